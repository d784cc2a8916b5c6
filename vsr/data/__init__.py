"""Datasets (REDS, Vimeo-90K, frame folders, video files), degradations and the DataModule."""
