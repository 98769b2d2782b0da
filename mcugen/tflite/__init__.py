"""The ``.tflite`` front end, one job per module: ``reader`` (bytes -> tables,
constants and names), ``validate`` (what would make the C wrong is refused),
``fold`` (shape arithmetic evaluated at build time), ``context`` (the view of
one operator an op converter gets) and ``loader`` (tables -> the IR graph,
``load_tflite`` / ``graph_from_tflite``)."""
