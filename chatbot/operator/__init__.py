"""The operator's tools (static/operator.html, web/operator_api.py):

intent_editor.py  edit, check, version and roll back intents (policy_editor.py: the policy)
stored.py         the stored versions, and a cluster's files following them
inbox.py          the messages the bot missed, grouped, to add as examples
evaluation.py     labelled sets run against the live matcher
analytics.py      the figures per day
lint.py           the intent files' check (`python -m chatbot intents check`)"""
