"""Start the chat server: `python run.py` serves http://127.0.0.1:8080 with the
embedded SQLite database, seeding the demo data on first start. `--help` lists
the flags (docs/protocol.md, docs/configuration.md), among them `--start-time ISO`
to run the server as if it were another day."""

import sys

from chatbot.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
