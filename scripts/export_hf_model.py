"""Convert the embedded llama-architecture GGUF into a Hugging Face model for vLLM.

Runs in the vLLM environment (scripts/vllm_env.sh calls it), never in the main
one: it needs torch, transformers, gguf and accelerate. transformers reads the
GGUF's weights (de-quantising Q4_1), its config and its tokenizer; the result is
saved as bfloat16 safetensors with ``tokenizer.json`` beside it. Everything is
local: the hub is switched off before transformers is imported.

    python scripts/export_hf_model.py --gguf FILE --out DIR [--sha256 HEX]

``--sha256`` (the GGUF's hash, as computed by the caller) is recorded in
``export.json`` in the output directory, with the library versions, so a cached
model says where it came from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def export(gguf: Path, out: Path, sha256: str | None) -> None:
    # Imported here: they exist only in the vLLM environment.
    import torch  # noqa: PLC0415 - only in the vLLM venv, after the offline switches above
    import transformers  # noqa: PLC0415 - same reason
    from transformers import (  # noqa: PLC0415 - same reason
        AutoModelForCausalLM,
        AutoTokenizer,
    )

    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The loaded model still carries the GGUF quantizer, which refuses to
    # serialise; its tensors are already de-quantised, so drop the marker and
    # save plain safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=False)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {
        "source": gguf.name,
        "source_sha256": sha256,
        "dtype": "bfloat16",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"exported {gguf.name} to {out} in {info['seconds']} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True, help="the llama-architecture GGUF")
    parser.add_argument("--out", type=Path, required=True, help="new directory for the model")
    parser.add_argument("--sha256", help="the GGUF's sha256, recorded in export.json")
    args = parser.parse_args(argv)
    if not args.gguf.is_file():
        parser.error(f"no such file: {args.gguf}")
    if args.out.exists():
        parser.error(f"already exists: {args.out}")
    export(args.gguf, args.out, args.sha256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
