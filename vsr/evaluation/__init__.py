"""``vsr-eval``: score a checkpoint or the bicubic baseline on REDS4, Vimeo-90K-T or Vid4.

- :mod:`.datasets`: the three on-disk layouts and frame reading.
- :mod:`.upscalers`: bicubic baseline and checkpoint methods.
- :mod:`.runner`: per-clip scoring and the clip-mean-then-set-mean average.
- :mod:`.report`: table, JSON, CSV. :mod:`.crops`: side-by-side PNGs.
- :mod:`.cli`: the command line (``main``).
"""
