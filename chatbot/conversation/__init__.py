"""The conversation: the customer's chat with the bot. `chat` stores what is
said and decides who answers; `dialogue` decides what the bot says, from the
typed dialogue state (`state`), one handler per expectation (`expecting`),
the repair patterns (`repair`), the handoff's waiting states (`waiting`) and
the routing of a fresh message (`routing`). Wording and phrase lists are data
in intents/ (dialogue.yaml, cues.yaml)."""
