"""The workshop app (``sim-app``): the app's model state, the views drawn from it, and the page."""
