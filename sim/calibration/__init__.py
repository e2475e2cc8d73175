"""Calibration against teacher-survey data: calibration experiments, the survey design that the
model's virtual survey answers, ABC-SMC (``sim-calibrate``), plots and the recovery study."""
