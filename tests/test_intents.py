"""The intent data: every taxonomy intent of both brands is there, answers
cite a real policy section, and the bot answers each one in a real chat."""
from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from chatbot.brands import CONVERSATION_INTENTS, load_brands
from chatbot.settings import REPO_ROOT

from helpers import ALICE, CAROL, DATA

TAXONOMY = YAML(typ="safe").load((DATA / "taxonomy.yaml").read_text())
BRANDS = load_brands(REPO_ROOT / "intents")
CREDS = {"cltiktok": ALICE, "ttr-e": CAROL}


def test_conversation_intents_are_the_taxonomys():
    assert set(TAXONOMY["conversation"]) == set(CONVERSATION_INTENTS)


@pytest.mark.parametrize("brand", ["cltiktok", "ttr-e"])
def test_every_taxonomy_intent_has_examples_an_answer_and_its_policy_section(brand):
    intents = BRANDS[brand].intents
    expected = {**{name: None for name in TAXONOMY["conversation"]}, **TAXONOMY[brand]}
    assert set(expected) <= set(intents)
    sections = BRANDS[brand].settings.policy.sections
    for name, section in expected.items():
        intent = intents[name]
        assert len(intent.examples) >= 10, name
        assert intent.answer.strip(), name
        if section:
            assert intent.policy_section == section, name
            assert section in sections


@pytest.mark.parametrize("brand", ["cltiktok", "ttr-e"])
def test_the_policy_document_is_the_brands_verbatim_policy(brand):
    text = BRANDS[brand].policy_text
    assert ("cltiktok Customer Support Policy" in text) if brand == "cltiktok" else ("Payment & Refund Policy" in text)


@pytest.mark.parametrize("brand,question,intent,facts", [
    ("cltiktok", "what's your phone number?", "contact_channels", ["+1 443 418 2795", "cltiktokshop@gmail.com"]),
    ("cltiktok", "how long do you take to answer emails", "response_times", ["24 hours"]),
    ("cltiktok", "I have a dispute with a seller", "dispute", ["screenshots"]),
    ("ttr-e", "how much is the ALL IN ONE package", "service_pricing", ["$500", "USD"]),
    ("ttr-e", "what's your email address", "contact_channels", ["partners@ttr-e.com"]),
    ("ttr-e", "can this refund policy change?", "policy_updates", ["effective date"]),
])
async def test_policy_answers_state_the_policys_facts(server, clients, brand, question, intent, facts):
    client = await clients(server, CREDS[brand])
    reply = await client.ask(question)
    assert reply["intent"] == intent
    for fact in facts:
        assert fact in reply["text"]
    assert reply["citation"].startswith(BRANDS[brand].settings.policy.title)
