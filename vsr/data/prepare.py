"""Dataset preparation: REDS regrouping and meta info, Vimeo-90K checks, precomputed LR.

Entry points ``reds_main`` and ``vimeo_main`` back ``scripts/prepare_reds.py`` and
``scripts/prepare_vimeo.py``. Precomputed LR is optional (the datasets degrade on the fly);
it only pays off for the deterministic kinds, bicubic and blur. Noise and compression are
random per sample and always made on the fly.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from vsr.command import run_command
from vsr.data.degradations import degrade
from vsr.video.clips import LR_META_FILE
from vsr.video.errors import ClipNotFoundError
from vsr.video.files import list_folders, list_images, read_image, require_dir
from vsr.video.layouts import VIMEO_FRAME_NAMES, VIMEO_FRAMES, read_vimeo_list
from vsr.video.png import save_png

#: Kinds that can be precomputed: deterministic for given parameters.
PRECOMPUTABLE = ("bicubic", "blur")
#: REDS official validation clips 000-029 become training-folder clips 240-269.
REDS_VAL_OFFSET = 240


class _Progress:
    """Prints frames done, frames/s and ETA about every two seconds."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what = total, what
        self.done, self.start, self.last = 0, time.monotonic(), 0.0

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last > 2.0 or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            print(f"{self.what}: {self.done}/{self.total} frames, {rate:.1f} fps, ETA {eta:.0f} s")


# --------------------------------------------------------------------------------------------
# REDS
# --------------------------------------------------------------------------------------------


def regroup_reds(root: Path, copy: bool = False) -> list[str]:
    """Move (or copy) ``val_sharp/000-029`` to ``train_sharp/240-269``, as BasicSR does.

    The official ``val_sharp_bicubic/X4`` clips move to ``train_sharp_bicubic/X4`` likewise.
    Clips already in place are left alone, so running twice is harmless.

    Returns:
        The new clip names.

    Raises:
        FileNotFoundError: ``train_sharp`` is missing, or ``val_sharp`` is missing and the
            clips were never regrouped.
    """
    require_dir(root / "train_sharp", "REDS train_sharp folder", "Unpack train_sharp.zip there.")
    moved = []
    pairs = [("val_sharp", "train_sharp"), ("val_sharp_bicubic/X4", "train_sharp_bicubic/X4")]
    for src_name, dst_name in pairs:
        src = root / src_name
        if not src.is_dir():
            if src_name == "val_sharp" and not (root / "train_sharp" / "240").is_dir():
                raise ClipNotFoundError(
                    f"REDS validation folder not found: expected {src} (unpack val_sharp.zip) "
                    "to regroup its clips as train_sharp/240-269"
                )
            continue
        for clip in sorted(p for p in src.iterdir() if p.is_dir() and p.name.isdigit()):
            target = root / dst_name / f"{int(clip.name) + REDS_VAL_OFFSET:03d}"
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copytree(clip, target)
            else:
                clip.rename(target)
            if src_name == "val_sharp":
                moved.append(target.name)
    return moved


def reds_meta_lines(gt: Path) -> list[str]:
    """BasicSR meta-info lines ``"<clip> <frames> (<h>,<w>,<c>)"`` for every clip in ``gt``."""
    lines = []
    for clip in list_folders(gt):
        frames = list_images(clip)
        if not frames:
            raise ClipNotFoundError(f"REDS clip folder {clip} holds no images")
        h, w, c = read_image(frames[0]).shape
        lines.append(f"{clip.name} {len(frames)} ({h},{w},{c})")
    return lines


def _lr_params(kind: str, options: dict) -> dict:
    if kind == "blur":
        return {
            "blur_sigma": float(options.get("blur_sigma", 1.6)),
            "blur_kernel_size": int(options.get("blur_kernel_size", 13)),
        }
    return {}


def precompute_lr(
    clips: Iterable[tuple[str, Sequence[Path]]],
    lr_root: Path,
    scale: int,
    kind: str,
    options: dict | None = None,
    overwrite: bool = False,
) -> int:
    """Degrade every frame of ``clips`` and write ``lr_root/<clip>/<frame name>``.

    Also writes ``lr_root/degradation.json`` recording the kind, scale and parameters, which
    the datasets check before using the frames. Existing frames are kept unless ``overwrite``.

    Returns:
        The number of frames written.
    """
    if kind not in PRECOMPUTABLE:
        raise ValueError(
            f"cannot precompute {kind!r}: noise and compression are drawn at random per sample, "
            f"so they are made on the fly; precomputable: {', '.join(PRECOMPUTABLE)}"
        )
    options = _lr_params(kind, options or {})
    clips = list(clips)
    progress = _Progress(sum(len(f) for _, f in clips), f"x{scale} {kind} -> {lr_root}")
    written = 0
    for name, frames in clips:
        for frame_path in frames:
            out = lr_root / name / frame_path.name
            if overwrite or not out.exists():
                lr, _ = degrade(read_image(frame_path)[None], scale, kind, **options)
                save_png(out, lr[0])
                written += 1
            progress.step()
    meta = {"degradation": kind, "scale": scale, "params": options}
    lr_root.mkdir(parents=True, exist_ok=True)
    (lr_root / LR_META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return written


def reds_main(argv: Sequence[str] | None = None) -> int:
    """``prepare_reds.py``: regroup, write meta info, optionally precompute LR."""
    parser = argparse.ArgumentParser(
        description="Prepare REDS: regroup the official validation clips as train_sharp/240-269 "
        "(BasicSR's layout), write meta_info_REDS_GT.txt, optionally precompute LR."
    )
    parser.add_argument("root", type=Path, help="REDS folder holding train_sharp/ (and val_sharp/)")
    parser.add_argument("--copy", action="store_true", help="copy val clips instead of moving")
    parser.add_argument("--no-regroup", action="store_true", help="skip the regrouping step")
    parser.add_argument(
        "--meta", type=Path, help="meta-info path (default root/meta_info_REDS_GT.txt)"
    )
    parser.add_argument("--scales", type=int, nargs="*", default=[], help="precompute LR at these")
    parser.add_argument("--degradations", nargs="*", default=["bicubic"], choices=PRECOMPUTABLE)
    parser.add_argument("--blur-sigma", type=float, default=1.6)
    parser.add_argument("--overwrite", action="store_true", help="rewrite existing LR frames")
    args = parser.parse_args(argv)
    return run_command("vsr-prepare-reds", lambda: _prepare_reds(args))


def _prepare_reds(args: argparse.Namespace) -> int:
    root: Path = args.root
    gt = require_dir(root / "train_sharp", "REDS train_sharp folder", "Unpack train_sharp.zip.")
    if not args.no_regroup:
        moved = regroup_reds(root, copy=args.copy)
        print(
            f"regrouped {len(moved)} validation clips into {gt}" if moved else "already regrouped"
        )
    meta_path = args.meta or root / "meta_info_REDS_GT.txt"
    lines = reds_meta_lines(gt)
    meta_path.write_text("\n".join(lines) + "\n")
    print(f"wrote {meta_path} ({len(lines)} clips)")
    clips = [(p.name, list_images(p)) for p in list_folders(gt)]
    for scale in args.scales:
        for kind in args.degradations:
            lr_root = root / f"train_sharp_{kind}" / f"X{scale}"
            n = precompute_lr(
                clips, lr_root, scale, kind, {"blur_sigma": args.blur_sigma}, args.overwrite
            )
            print(f"wrote {n} frames to {lr_root}")
    return 0


# --------------------------------------------------------------------------------------------
# Vimeo-90K
# --------------------------------------------------------------------------------------------


def find_septuplets(sequences: Path) -> list[str]:
    """Every ``<a>/<b>`` folder under ``sequences`` that holds im1.png ... im7.png."""
    found = []
    for first in list_folders(sequences):
        for second in list_folders(first):
            if all((second / n).is_file() for n in VIMEO_FRAME_NAMES):
                found.append(f"{first.name}/{second.name}")
    return found


def check_vimeo(sequences: Path, list_file: Path) -> tuple[list[str], list[str]]:
    """Septuplets of ``list_file`` split into (complete, incomplete or missing)."""
    ok, bad = [], []
    for sid in read_vimeo_list(list_file):
        folder = sequences / sid
        complete = all((folder / n).is_file() for n in VIMEO_FRAME_NAMES)
        (ok if complete else bad).append(sid)
    return ok, bad


def vimeo_main(argv: Sequence[str] | None = None) -> int:
    """``prepare_vimeo.py``: check the layout, write lists/meta info, optionally precompute LR."""
    parser = argparse.ArgumentParser(
        description="Check a Vimeo-90K septuplet tree, write meta info (and a list of every "
        "septuplet found, if asked), optionally precompute LR."
    )
    parser.add_argument("root", type=Path, help="vimeo_septuplet folder (holding sequences/)")
    parser.add_argument("--sequences", type=Path, help="sequences folder (default root/sequences)")
    parser.add_argument(
        "--lists",
        type=Path,
        nargs="*",
        help="list files to check (default root/sep_trainlist.txt, sep_testlist.txt)",
    )
    parser.add_argument(
        "--lr-dir",
        type=Path,
        help="where sequences_<kind>_X<s> LR folders go (default: beside sequences)",
    )
    parser.add_argument("--meta-dir", type=Path, help="where meta-info files go (default root)")
    parser.add_argument(
        "--write-list", type=Path, help="write every complete septuplet found to this list file"
    )
    parser.add_argument("--scales", type=int, nargs="*", default=[], help="precompute LR at these")
    parser.add_argument("--degradations", nargs="*", default=["bicubic"], choices=PRECOMPUTABLE)
    parser.add_argument("--blur-sigma", type=float, default=1.6)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    return run_command("vsr-prepare-vimeo", lambda: _prepare_vimeo(args))


def _prepare_vimeo(args: argparse.Namespace) -> int:
    root: Path = args.root
    sequences = require_dir(
        args.sequences or root / "sequences",
        "Vimeo-90K sequences folder",
        "Expected vimeo_septuplet/sequences/<a>/<b>/im1.png ... im7.png.",
    )
    if args.write_list:
        found = find_septuplets(sequences)
        if not found:
            raise ClipNotFoundError(f"no complete septuplets (im1..im7.png) under {sequences}")
        args.write_list.write_text("\n".join(found) + "\n")
        print(f"wrote {args.write_list} ({len(found)} septuplets)")
    lists = args.lists or [root / "sep_trainlist.txt", root / "sep_testlist.txt"]
    listed: list[str] = []
    for list_file in lists:
        ok, bad = check_vimeo(sequences, list_file)
        print(f"{list_file}: {len(ok)} complete septuplets, {len(bad)} incomplete or missing")
        if bad:
            raise ClipNotFoundError(
                f"{len(bad)} septuplets listed in {list_file} are incomplete or missing under "
                f"{sequences}, first: {bad[0]} (expected im1.png ... im7.png)"
            )
        meta = (args.meta_dir or root) / f"meta_info_Vimeo90K_{list_file.stem}_GT.txt"
        h, w, c = read_image(sequences / ok[0] / "im1.png").shape
        meta.write_text("".join(f"{sid} {VIMEO_FRAMES} ({h},{w},{c})\n" for sid in ok))
        print(f"wrote {meta}")
        listed += ok
    clips = [
        (sid, [sequences / sid / n for n in VIMEO_FRAME_NAMES])
        for sid in dict.fromkeys(listed)
    ]
    for scale in args.scales:
        for kind in args.degradations:
            lr_root = (args.lr_dir or sequences.parent) / f"{sequences.name}_{kind}_X{scale}"
            n = precompute_lr(
                clips, lr_root, scale, kind, {"blur_sigma": args.blur_sigma}, args.overwrite
            )
            print(f"wrote {n} frames to {lr_root}")
    return 0
