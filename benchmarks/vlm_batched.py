"""Speed of the VLM aspect scorer: one full forward per (image, question) vs the shared image prefix.

Both paths score the same images and questions on the same loaded model in one run; the script
checks they agree, then reports seconds per image and the ratio naive / batched.

    python benchmarks/vlm_batched.py                          # random "small" LLaVA built offline
    python benchmarks/vlm_batched.py --size tiny              # the test model
    python benchmarks/vlm_batched.py --model-id llava-hf/llava-1.5-7b-hf --device cuda

The random models come from tests/teachers/tiny_vlm.py (saved to a temporary folder and loaded
through AutoProcessor / AutoModelForImageTextToText like a real checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fgkd.scorers import get_scorer

QUESTIONS = [
    "Is the bird red?",
    "Does the bird have a striped body?",
    "Are the wings blue?",
    "Is the tail long?",
    "Is the beak yellow?",
    "Is the bird in a forest?",
    "Is the bird flying in the sky?",
    "Does the car have two doors?",
    "Does the aircraft have two engines?",
    "Are the wings green and spotted?",
]


def _images(n: int, side: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]


def _time(fn, repeats: int):
    """``(best wall time, result)`` of ``repeats`` calls (the minimum is least disturbed by other load)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def _authors_procedure(scorer, images, questions, new_tokens: int) -> float:
    """Seconds of the MaKD authors' procedure (their ``internvl_logits`` script): one chat
    generation per (image, question), P(yes) read from the first generated token's scores. A random
    model never says when to stop, so each answer is cut at ``new_tokens`` tokens: a lower bound on
    the cost of a real model's "Yes." or "No, ..."."""
    runner = scorer._runner
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        for image in images:
            for text in scorer.prompts(questions):
                inputs = scorer.processor(text=[text], images=[image], return_tensors="pt")
                inputs = {k: (v.to(runner.device, runner.dtype) if v.is_floating_point() else v.to(runner.device))
                          for k, v in dict(inputs).items()}
                scorer.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                      do_sample=False, output_scores=True, return_dict_in_generate=True)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", help="a cached Hugging Face VLM or local folder (default: a random one)")
    parser.add_argument("--size", default="small", choices=["tiny", "small"], help="random model size")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS) * 3, help="Q (the question list repeats)")
    parser.add_argument("--batch-size", type=int, default=16, help="questions per continuation batch")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a shared CPU)")
    parser.add_argument("--authors-new-tokens", type=int, default=4,
                        help="the authors' procedure: one chat generation per (image, question) of this many tokens "
                             "(a short answer such as 'Yes.' plus its end token); 0 skips it")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model_id:
            model_id, label = args.model_id, args.model_id
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "teachers"))
            from tiny_vlm import save_tiny_vlm

            model_id, label = str(save_tiny_vlm(Path(tmp) / "vlm", size=args.size)), f"random LLaVA ({args.size})"
        scorer = get_scorer(
            "vlm", model_id=model_id, device=args.device, dtype=args.dtype, question_batch_size=args.batch_size
        )
        # Questions differ in the tail only; numbering keeps Q > 10 distinct.
        questions = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i // len(QUESTIONS) + 1})" for i in range(args.questions)]
        side = getattr(scorer.processor.image_processor, "crop_size", {}).get("height", 224)
        images = _images(args.images, side)

        scorer.score(images[:1], questions[:2], batched=True)  # warm-up (allocations, kernels)
        scorer.score(images[:1], questions[:2], batched=False)
        t_batched, batched = _time(lambda: scorer.score(images, questions, batched=True), args.repeats)
        t_naive, naive = _time(lambda: scorer.score(images, questions, batched=False), args.repeats)
        t_authors = _authors_procedure(scorer, images, questions, args.authors_new_tokens) \
            if args.authors_new_tokens > 0 else None
        prefix = len(scorer.processor(text=scorer.prompts(questions[:1]), images=images[:1])["input_ids"][0])

    result = {
        "model": label,
        "device": str(scorer._runner.device),
        "dtype": scorer.provenance["dtype"],
        "threads": torch.get_num_threads(),
        "images": args.images,
        "questions": args.questions,
        "prompt_tokens": prefix,
        "question_batch_size": args.batch_size,
        "max_abs_diff": float(np.abs(batched - naive).max()),
        "naive_s_per_image": t_naive / args.images,
        "batched_s_per_image": t_batched / args.images,
        "speedup_naive_over_batched": t_naive / t_batched,
    }
    if t_authors is not None:
        result.update(authors_new_tokens=args.authors_new_tokens, authors_s_per_image=t_authors / args.images,
                      speedup_authors_over_batched=t_authors / t_batched)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
