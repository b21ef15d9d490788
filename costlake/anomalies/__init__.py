"""Cost anomalies: the detector and the anomaly marts."""
