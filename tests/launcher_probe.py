"""Run by tests/test_validator_launcher.py through the launcher: reports what a started process sees."""
import json
import os
import random
import sys
import time

if __name__ == "__main__":
    print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "argv": sys.argv, "cwd": os.getcwd(),
                      "probe_env": os.environ.get("PROBE_ENV"), "random": random.random(),
                      "stdin": sys.stdin.read()}), flush=True)
    if sys.argv[1] == "sleep":
        time.sleep(float(sys.argv[2]))
    sys.exit(int(sys.argv[-1]))
