"""A brand's files, read and validated: `files` (YAML and where it went wrong),
`settings` (brand.yaml), `replies` (replies.yaml), `intents` (one file per
intent, and the shared out-of-scope set). `chatbot.brands` puts them together
into a `Brand` and re-exports what callers use."""
