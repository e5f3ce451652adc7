"""Heat diffusion on every PE of a wafer (the demo): `python examples/heat_wafer.py [--preset wse2] [--steps 100]`."""
from wafersim.tools.demo import main

if __name__ == "__main__":
    main()
