"""Running the model many times: run specs and replicate seeds, executors (local processes, Dask),
the resumable run store, experiments (``sim-sweep``) and their analysis (``sim-analyze``)."""
