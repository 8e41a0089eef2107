"""Reading a run back: its records (`analysis`), report.html (`html`, `plots`, `templating`),
comparing runs (`compare`), the best model (`best`) and any trial's model (`trial_models`)."""
