"""FP16 conversion and INT8 Q/DQ calibration (installed as ``refinet_edge.calibration``).

Empty until the export/engines issue lands.
"""
