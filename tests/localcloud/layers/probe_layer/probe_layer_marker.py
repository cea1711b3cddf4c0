"""A module only the probe layer holds: importing it proves the layer is on the function's sys.path."""

LAYER_NAME = "probe-layer"
