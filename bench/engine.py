"""Engine benchmark (see wafersim.tools.bench): `python bench/engine.py --preset wse2 --steps 100 --write bench/RESULTS.md`."""
import sys

from wafersim.tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
