import sys

from hpsearch.cli import dispatch

sys.exit(dispatch())
