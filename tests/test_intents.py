"""The intent data: every taxonomy intent of both brands is there, answers
cite a real policy section, and the bot answers each one in a real chat."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from chatbot.brands import CONVERSATION_INTENTS, RECORD_ANSWERS, REPLY_FIELDS, IntentFileError, load_brands
from chatbot.conversation.records import KIND_TABLE, RECORD_KIND
from chatbot.operator.lint import check
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


@pytest.mark.parametrize(
    "brand,question,intent,facts",
    [
        ("cltiktok", "what's your phone number?", "contact_channels", ["+1 443 418 2795", "cltiktokshop@gmail.com"]),
        ("cltiktok", "how long do you take to answer emails", "response_times", ["24 hours"]),
        ("cltiktok", "I have a dispute with a seller", "dispute", ["screenshots"]),
        ("ttr-e", "how much is the ALL IN ONE package", "service_pricing", ["$500", "USD"]),
        ("ttr-e", "what's your email address", "contact_channels", ["partners@ttr-e.com"]),
        ("ttr-e", "can this refund policy change?", "policy_updates", ["effective date"]),
    ],
)
async def test_policy_answers_state_the_policys_facts(server, clients, brand, question, intent, facts):
    client = await clients(server, CREDS[brand])
    reply = await client.ask(question)
    assert reply["intent"] == intent
    for fact in facts:
        assert fact in reply["text"]
    assert reply["citation"].startswith(BRANDS[brand].settings.policy.title)


# -- replies.yaml and the rules of brand.yaml --------------------------------------------------


def test_each_record_answer_has_its_kind_of_record():
    """brands.RECORD_ANSWERS (which sections and replies a brand must give) is records.RECORD_KIND."""
    assert {a: KIND_TABLE[k] for a, k in RECORD_KIND.items()} == {
        a: table for table, answers in RECORD_ANSWERS.items() for a in answers
    }


@pytest.mark.parametrize("brand", ["cltiktok", "ttr-e"])
def test_every_reply_a_brand_needs_is_worded_and_cites_a_real_section(brand):
    loaded = BRANDS[brand]
    assert set(loaded.replies) <= set(REPLY_FIELDS)
    assert "handoff.breach_offer" in loaded.replies and "record.not_found" in loaded.replies
    assert ("order.return_offer" in loaded.replies) == (brand == "cltiktok")  # only cltiktok keeps orders
    assert ("purchase.refund_offer" in loaded.replies) == (brand == "ttr-e")
    for reply in loaded.replies.values():
        assert reply.section is None or reply.section in loaded.settings.policy.sections, reply.key


def broken_copy(tmp_path: Path, old: str, new: str, name: str = "cltiktok/replies.yaml") -> tuple[Path, int]:
    """A copy of intents/ with one line of a file changed; returns the file and that line's number."""
    shutil.copytree(REPO_ROOT / "intents", tmp_path / "intents")
    path = tmp_path / "intents" / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if old in line)
    lines[index] = lines[index].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")
    return path, index + 1


@pytest.mark.parametrize(
    "old,new,message",
    [
        ('"Note: {note}."', '"Note: {note} ({colour})."', "unknown placeholder {colour}"),
        ('"Note: {note}."', '"Note: {note.__class__}."', "not a plain {name} placeholder"),
        ("order.status.shipped:", "order.status.sent:", "unknown reply 'order.status.sent'"),
    ],
)
def test_a_broken_template_is_reported_with_its_file_and_line(tmp_path, old, new, message):
    path, line = broken_copy(tmp_path, old, new)
    with pytest.raises(IntentFileError) as raised:
        load_brands(tmp_path / "intents")
    assert (raised.value.path, raised.value.line) == (path, line) and message in raised.value.message
    findings = check(tmp_path / "intents")  # what `python -m chatbot intents check` prints
    assert [(f.path, f.line, f.level) for f in findings] == [(path, line, "error")]
    assert message in findings[0].message


def test_a_missing_reply_and_a_missing_rule_are_reported(tmp_path):
    path, _ = broken_copy(tmp_path, 'order.gone: "I couldn\'t find that order any more."', "")
    assert [str(f) for f in check(tmp_path / "intents")] == [f"{path}:1: error: missing reply order.gone"]
    shutil.rmtree(tmp_path / "intents")
    path, line = broken_copy(tmp_path, "return_window_days: 30", "return_window_day: 30", "cltiktok/brand.yaml")
    finding = check(tmp_path / "intents")[0]
    assert (finding.path, finding.line) == (path, line) and "return_window_day" in finding.message


def test_intents_check_on_the_command_line_names_the_template(tmp_path):
    path, line = broken_copy(tmp_path, "{agent} has closed this chat.", "{agent_name} has closed this chat.")
    run = subprocess.run(
        [sys.executable, "-m", "chatbot", "intents", "check", "--intents", str(tmp_path / "intents")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert run.returncode != 0
    assert f"{path}:{line}: error: handoff.resolved: unknown placeholder {{agent_name}}" in run.stdout + run.stderr
