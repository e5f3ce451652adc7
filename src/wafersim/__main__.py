"""`python -m wafersim ...`: the `wafersim` command line (`wafersim.tools.cli`), for an environment whose
console scripts are not on PATH."""
from wafersim.tools.cli import main

if __name__ == "__main__":
    main(prog_name="wafersim")
