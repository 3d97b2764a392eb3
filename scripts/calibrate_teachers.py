"""Calibration table of the embedded CLIP teachers (and any pretrained one you have cached).

Trains the embedded teachers if they are not cached yet (timed), then prints, per teacher and world
domain, zero-shot top-1 on the target classes' test images against one template description per
class, and the mean normalised entropy of p_t = softmax(f . P^T / 0.02) on right vs wrong
predictions.

    python scripts/calibrate_teachers.py                       # embedded-S, -M, -L on all domains
    python scripts/calibrate_teachers.py --teachers embedded-S --domains bird --max-words 20
    python scripts/calibrate_teachers.py --json reports/teacher_calibration.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from fgkd.io import atomic_write_json
from fgkd.teachers import EMBEDDED_TEACHERS, get_teacher
from fgkd.teachers.calibration import CalibrationSpec, calibration_table, format_table
from fgkd.teachers.embedded import WORLD_DOMAINS, count_parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", nargs="+", default=list(EMBEDDED_TEACHERS),
                        help="embedded names or open_clip ARCH/TAG (pretrained ones must be cached)")
    parser.add_argument("--domains", nargs="+", default=list(WORLD_DOMAINS), choices=WORLD_DOMAINS)
    parser.add_argument("--image-size", type=int, default=CalibrationSpec.image_size, help="test image render size")
    parser.add_argument("--num-classes", type=int, default=CalibrationSpec.num_classes)
    parser.add_argument("--max-words", type=int, default=CalibrationSpec.max_words, help="description length")
    parser.add_argument("--llm", default=CalibrationSpec.llm, help="description backend (fgkd.llm)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[CalibrationSpec.temperature],
                        help="T of p_t for the entropy columns (e.g. 0.02 0.1)")
    parser.add_argument("--json", type=Path, help="also write the rows (and training times) here")
    args = parser.parse_args(argv)

    spec = CalibrationSpec(image_size=args.image_size, num_classes=args.num_classes, llm=args.llm,
                           max_words=args.max_words)
    teachers, info = [], []
    for name in args.teachers:
        start = time.perf_counter()
        teacher = get_teacher(name)
        seconds = time.perf_counter() - start
        row = {"teacher": name, "load_seconds": round(seconds, 1)}
        if name in EMBEDDED_TEACHERS:
            row.update(train_seconds=teacher.provenance["train_seconds"], parameters=count_parameters(name),
                       final_loss=round(teacher.provenance["loss_history"][-1], 3))
        info.append(row)
        teachers.append(teacher)

    print("teachers (train_seconds: recorded when the teacher was trained; load_seconds: this run)")
    for row in info:
        params = row.get("parameters")
        extra = (f"  train {row['train_seconds']:.0f} s, final loss {row['final_loss']}, parameters "
                 f"{params['total'] / 1e6:.2f} M (image {params['visual'] / 1e6:.2f} M, text "
                 f"{params['text'] / 1e6:.2f} M)") if params else ""
        print(f"  {row['teacher']:<12} load {row['load_seconds']:.1f} s{extra}")

    rows = []
    for temperature in args.temperatures:
        spec = dataclasses.replace(spec, temperature=temperature)
        table = calibration_table(teachers, args.domains, spec)
        print(f"\nzero-shot on unseen target classes ({spec.split} split, {spec.llm} descriptions of "
              f"{spec.max_words} words, T = {temperature})")
        print(format_table(table))
        rows += table
    if args.json:
        atomic_write_json(args.json, {"spec": spec.__dict__, "teachers": info, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
