"""The product's server (run.py) with the tunings of bench/tuning.py applied
from outside, so a proposed change can be measured without editing chatbot/:

    python bench/tuned_server.py --gc-freeze --uvloop -- --port 0 --db /tmp/x.db --no-demo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# BENCH_PRODUCT_REPO: benchmark another checkout (a patched copy) with the same wrapper
sys.path.insert(0, os.environ.get("BENCH_PRODUCT_REPO") or str(HERE.parent))
sys.path.insert(0, str(HERE))
from tuning import apply_tuning, product_settings, tuning_args  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    rest: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__)
    tuning_args(p)
    args = p.parse_args(argv)
    os.environ.update(product_settings(args))
    apply_tuning(args, runtime=False)
    from chatbot.__main__ import main as chatbot_main

    print(f"chatbot from {Path(sys.modules['chatbot.__main__'].__file__).parent}", file=sys.stderr, flush=True)
    return chatbot_main(["serve", *rest])


if __name__ == "__main__":
    sys.exit(main())
