"""edgeq's LLM runner on a device that decodes slower: every call of the program takes ``DELAY_S`` longer, as on
a device with slower memory or a throttled core. Usage: ``python slow_llm_runner.py RUNNER ARGS...``, where RUNNER
is the staged ``edgeq_llm_runner.py``; the real runner loads, generates and reports, only slower."""

import importlib.util
import sys
import time

DELAY_S = 0.001


def main() -> int:
    spec = importlib.util.spec_from_file_location("edgeq_llm_runner", sys.argv[1])
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    load = runner._load

    def load_slower(runtime, path):
        forward = load(runtime, path)

        def slower(tokens, position):
            time.sleep(DELAY_S)
            return forward(tokens, position)

        return slower

    runner._load = load_slower
    return runner.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
