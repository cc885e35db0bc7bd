import os
import sys

from core.cli import main

try:
    code = main()
    sys.stdout.flush()  # a closed pipe shows here, inside the try
except BrokenPipeError:
    # The reader went away (`python -m core runs show 3 | head`): stop quietly, as
    # Unix tools do. Point stdout at /dev/null so the flush at exit cannot fail again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 141  # 128 + SIGPIPE, what a shell reports for a command its pipe ended
sys.exit(code)
