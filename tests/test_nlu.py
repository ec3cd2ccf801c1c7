"""The intent matcher's pieces: normalisation, entities with offsets into the
original text, spelling repair, negation, short fragments, the out-of-scope
decision, the on-disk model cache and the Rasa shape of a parse."""

from __future__ import annotations

import pytest

from chatbot.brands import load_brands
from chatbot.nlu import OUT_OF_SCOPE, Entity, Parse, build_matcher, hybrid, model, training
from chatbot.nlu.entities import extract
from chatbot.nlu.features import Analyzer, Speller, mark_negation
from chatbot.nlu.normalize import BREAK, analyse, normalize
from chatbot.settings import REPO_ROOT

BRANDS = load_brands(REPO_ROOT / "intents")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture(scope="module")
def matchers(cache_dir):
    return {
        b: build_matcher(
            brand.training_data(),
            threshold=brand.settings.nlu.threshold,
            margin=brand.settings.nlu.margin,
            cache_dir=cache_dir,
        )
        for b, brand in BRANDS.items()
    }


def intent(matchers, brand: str, text: str) -> str | None:
    return matchers[brand].parse(text).intent


# -- normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Where's my order?!", "where is my order"),
        ("I can't log in", "i can not log in"),
        ("dont cancel it pls", "do not cancel it please"),
        ("wat r u able 2 do", "what are you able 2 do"),
        ("mhm", "yes"),
        ("u there? need info rn", "you there need information right now"),
        ("Thank youuuu sooo much", "thank youu soo much"),
        ("whats the status of CT-100234", "what is the status of ordernumber"),
        ("refund RF-5001 for tt 2001, wd7001", "refund refundnumber for purchasenumber withdrawalnumber"),
        ("mail me at jo.doe+x@mail.co.uk", "mail me at emailaddress"),
        ("i paid $1,200.50 w/ my card", "i paid moneyamount with my card"),
        ("it’s “fine”", "it is fine"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_ya_y_and_n_are_not_read_as_you_why_and():
    assert normalize("ya") == "ya"
    assert normalize("y") == "y"
    assert normalize("n") == "n"


def test_analyse_keeps_clause_breaks_for_negation():
    assert analyse("I don't want to cancel, just tell me") == [
        "i",
        "do",
        "not",
        "want",
        "to",
        "cancel",
        BREAK,
        "just",
        "tell",
        "me",
    ]


# -- entities --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,value,surface",
    [
        ("where is ct 100234?", "order_number", "CT-100234", "ct 100234"),
        ("order #100234 please", "order_number", "CT-100234", "#100234"),
        ("status of CT-100234", "order_number", "CT-100234", "CT-100234"),
        ("Ct100235 hasn't come", "order_number", "CT-100235", "Ct100235"),
        ("my order number 100236", "order_number", "CT-100236", "100236"),
        ("invoice for TT-2001 pls", "purchase_number", "TT-2001", "TT-2001"),
        ("tt 2002 not active", "purchase_number", "TT-2002", "tt 2002"),
        ("any news on rf-5001", "refund_number", "RF-5001", "rf-5001"),
        ("RF 9001?", "refund_number", "RF-9001", "RF 9001"),
        ("withdrawal WD-7001 pending", "withdrawal_number", "WD-7001", "WD-7001"),
        ("write to jo.doe+shop@mail.co.uk", "email", "jo.doe+shop@mail.co.uk", "jo.doe+shop@mail.co.uk"),
        ("I was charged $1,200.50 twice", "amount", "1200.50", "$1,200.50"),
        ("it cost 30 usd", "amount", "30.00", "30 usd"),
        ("USD 45 fee", "amount", "45.00", "USD 45"),
        ("refund of 12 dollars", "amount", "12.00", "12 dollars"),
    ],
)
def test_entities_with_offsets_into_the_original_text(text, kind, value, surface):
    found = [e for e in extract(text) if e.entity == kind]
    assert len(found) == 1, found
    e = found[0]
    assert e.value == value
    assert text[e.start : e.end] == surface


def test_several_entities_in_order_and_not_overlapping():
    text = "CT-100234 and ct 100235, refund RF-5001 to me@x.com"
    found = extract(text)
    assert [e.entity for e in found] == ["order_number", "order_number", "refund_number", "email"]
    assert all(a.end <= b.start for a, b in zip(found, found[1:], strict=False))


def test_no_entity_from_a_plain_number():
    assert extract("call me at 100234 tomorrow") == []
    assert extract("ct-1002345") == []


# -- spelling, negation ----------------------------------------------------------------


def test_speller_repairs_typos_but_not_real_words():
    speller = Speller(
        __import__("collections").Counter(
            {"password": 20, "thank": 30, "refund": 40, "status": 10, "that": 50, "bye": 9, "shows": 1}
        )
    )
    assert speller("pasword") == "password"
    assert speller("refnud") == "refund"  # swapped letters
    assert speller("staus") == "status"  # a dropped letter
    assert speller("taht") == "that"
    assert speller("byee") == "bye"  # elongation
    assert speller("think") == "think"  # a real word, not "thank"
    assert speller("shoes") == "shoes"  # not "shows"


def test_a_negated_wish_is_marked_a_plain_negation_is_not():
    assert mark_negation("i do not want to cancel , just tell me".split()) == [
        "i",
        "do",
        "not",
        "not_want",
        "not_to",
        "not_cancel",
        ",",
        "just",
        "tell",
        "me",
    ]
    assert mark_negation("my parcel did not arrive".split()) == "my parcel did not arrive".split()


@pytest.mark.parametrize(
    "brand,text,not_intent,expected",
    [
        (
            "cltiktok",
            "I don't want to cancel, just tell me where it is",
            "order_cancel",
            {"order_status", "delivery_tracking"},
        ),
        (
            "cltiktok",
            "I'm not asking for a refund, I just want to know where my refund is",
            "return_request",
            {"refund_status"},
        ),
        ("cltiktok", "I don't need an agent, just give me your email", "human_agent", {"contact_channels"}),
        ("ttr-e", "I don't want to cancel, I just want my package activated", "service_cancel", {"service_activation"}),
    ],
)
def test_negation_flips_the_intent(matchers, brand, text, not_intent, expected):
    got = intent(matchers, brand, text)
    assert got != not_intent
    assert got in expected


@pytest.mark.parametrize(
    "brand,text,expected",
    [
        ("cltiktok", "cancle my ordr pls", "order_cancel"),
        ("cltiktok", "wheres my pakage", "delivery_tracking"),
        ("cltiktok", "refnud staus?", "refund_status"),
        ("cltiktok", "forgot my pasword", "account_access"),
        ("ttr-e", "how much is the all in one pakage", "service_pricing"),
        ("ttr-e", "i need an invoce", "billing_invoice"),
    ],
)
def test_typo_tolerance(matchers, brand, text, expected):
    assert intent(matchers, brand, text) == expected


@pytest.mark.parametrize(
    "brand,text,expected",
    [
        ("cltiktok", "byee", "goodbye"),
        ("ttr-e", "byebye", "goodbye"),
        ("cltiktok", "nop", "deny"),
        ("cltiktok", "nooo", "deny"),
        ("cltiktok", "ya", "affirm"),
        ("cltiktok", "yesss", "affirm"),
        ("cltiktok", "thankss", "thanks"),
        ("ttr-e", "helo", "greet"),
    ],
)
def test_short_fragments_and_their_misspellings(matchers, brand, text, expected):
    assert intent(matchers, brand, text) == expected


# -- out of scope ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "brand,text",
    [
        ("cltiktok", "asdkfj qwepoi zxcmnb"),
        ("cltiktok", "how do i cancel hulu"),
        ("cltiktok", "my grubhub delivery guy never showed up"),
        ("cltiktok", "what's the capital of peru"),
        ("ttr-e", "where is my order CT-100234, the earbuds haven't come"),
        ("ttr-e", "how much does netflix cost a month"),
        ("ttr-e", "zzzzzz"),
        ("ttr-e", ""),
        ("ttr-e", "?!"),
    ],
)
def test_gibberish_and_other_companies_fall_back(matchers, brand, text):
    parse = matchers[brand].parse(text)
    assert parse.intent is None
    assert parse.confidence < matchers[brand].threshold


def test_a_brand_name_the_brand_itself_supports_is_no_reason_to_fall_back(matchers):
    # PayPal is a way to pay on cltiktok: naming it is part of an in-scope ask
    assert intent(matchers, "cltiktok", "can i pay with paypal") == "payment_methods"


def test_confidence_agrees_with_the_decision(matchers):
    m = matchers["cltiktok"]
    for text in ["where is my order", "tell me a joke", "hmm", "cancel order CT-100234 please"]:
        p = m.parse(text)
        if p.intent is not None:
            assert p.intent == p.top and p.confidence >= m.threshold
            assert p.confidence - (p.ranking[1][1] if len(p.ranking) > 1 else 0) >= m.margin
        assert p.confidence == pytest.approx(p.ranking[0][1])
        assert OUT_OF_SCOPE not in dict(p.ranking)


# -- the Rasa shape --------------------------------------------------------------------


def test_to_rasa_has_the_shape_of_rasa_model_parse(matchers):
    text = "where is my order CT-100234?"
    answer = matchers["cltiktok"].parse(text).to_rasa()
    assert set(answer) == {"text", "intent", "intent_ranking", "entities"}
    assert answer["text"] == text
    assert answer["intent"]["name"] == "order_status"
    assert 0 <= answer["intent"]["confidence"] <= 1
    ranking = answer["intent_ranking"]
    assert 1 < len(ranking) <= 10
    assert ranking[0]["name"] == "order_status"
    assert all(set(r) == {"name", "confidence"} for r in ranking)
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    assert answer["entities"] == [{"entity": "order_number", "value": "CT-100234", "start": 18, "end": 27}]


def test_to_rasa_of_a_fallback_names_no_intent():
    parse = Parse(
        text="hmm",
        intent=None,
        confidence=0.12,
        ranking=[("greet", 0.12), ("thanks", 0.05)],
        entities=[Entity("email", "a@b.co", 0, 6)],
    )
    answer = parse.to_rasa(ranking_size=1)
    assert answer == {
        "text": "hmm",
        "intent": {"name": None, "confidence": 0.12},
        "intent_ranking": [{"name": "greet", "confidence": 0.12}],
        "entities": [{"entity": "email", "value": "a@b.co", "start": 0, "end": 6}],
    }


# -- the model cache -------------------------------------------------------------------

TOY = {
    "greet": ["hello", "hi there", "good morning", "hey"],
    "order_status": ["where is my order", "order status please", "has my order shipped", "track my order"],
    OUT_OF_SCOPE: ["tell me a joke", "weather tomorrow", "who won the game"],
}


def test_the_same_examples_train_the_same_model():
    """liblinear shuffles the examples; unseeded, two trainings differed by
    about 1e-5, enough to flip near-ties: a model trained on another machine,
    or after the cache was cleared, could answer otherwise than the one the
    figures and the operator's checks were measured with."""
    data = BRANDS["ttr-e"].training_data()
    first, second = training.fit(data), training.fit(data)
    for name in model.Model.ARRAYS:
        assert (getattr(first, name) == getattr(second, name)).all(), name


def test_the_cache_is_used_and_follows_the_examples(tmp_path, monkeypatch):
    trained = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *args: trained.append(1) or real_fit(*args))

    first = build_matcher(TOY, threshold=0.5, margin=0.05, cache_dir=tmp_path)
    assert len(trained) == 1 and len(list(tmp_path.glob("model-*.npz"))) == 1
    again = build_matcher(TOY, threshold=0.5, margin=0.05, cache_dir=tmp_path)
    assert len(trained) == 1  # loaded, not trained
    for text in ["hey", "where's my order", "joke please"]:
        assert again.parse(text).to_rasa() == first.parse(text).to_rasa()

    changed = {**TOY, "greet": TOY["greet"] + ["howdy"]}  # an example changed: stale
    build_matcher(changed, threshold=0.5, margin=0.05, cache_dir=tmp_path)
    assert len(trained) == 2
    assert training.training_key(changed) != training.training_key(TOY)


def test_a_broken_cache_file_is_retrained(tmp_path):
    build_matcher(TOY, threshold=0.5, margin=0.05, cache_dir=tmp_path)
    (path,) = tmp_path.glob("model-*.npz")
    path.write_bytes(b"not a zip file")
    matcher = build_matcher(TOY, threshold=0.5, margin=0.05, cache_dir=tmp_path)
    assert matcher.parse("hello").intent == "greet"


def test_the_cache_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CACHE_ENV, "off")
    assert training.default_cache_dir() is None
    monkeypatch.setenv(training.CACHE_ENV, str(tmp_path / "here"))
    assert training.default_cache_dir() == tmp_path / "here"


def test_analyzer_learns_which_company_names_the_brand_uses():
    analyzer = Analyzer.fit(
        {"payment_methods": ["can i pay with paypal", "paypal ok?"], OUT_OF_SCOPE: ["cancel my netflix"]}, OUT_OF_SCOPE
    )
    assert analyzer.company(["cancel", "hulu"]) > 0.8  # never seen: someone else's
    assert analyzer.company(["pay", "with", "paypal"]) < 0.5  # the brand's customers use it
    assert analyzer.company(["where", "is", "my", "order"]) == 0


def test_a_synonym_no_example_uses_is_read_as_the_one_they_use():
    analyzer = Analyzer.fit(
        {
            "delivery_tracking": ["where is my package", "track my package"],
            "billing_invoice": ["send me the invoice"],
            OUT_OF_SCOPE: ["pay my phone bill"],
        },
        OUT_OF_SCOPE,
    )
    assert analyzer.words("where is my parcel") == ["where", "is", "my", "package"]
    assert analyzer.words("two parcels") == ["two", "package"]
    # "bill" only appears in an out-of-scope example: it is still read as the brand's word, so
    # "my phone bill" does not teach that every bill is off-topic
    assert analyzer.words("copy of my bill") == ["copy", "of", "my", "invoice"]
    # a word the in-scope examples use keeps its own meaning
    assert analyzer.words("track my package") == ["track", "my", "package"]
    # a group none of whose words the examples use changes nothing
    assert analyzer.words("my coupon") == ["my", "coupon"]


@pytest.mark.parametrize(
    "brand,text,expected",
    [
        ("cltiktok", "please undo my order", "order_cancel"),  # without synonyms: order_modify
        ("cltiktok", "the mug came shattered", "return_request"),  # without: not understood
        ("ttr-e", "please undo that purchase", "service_cancel"),  # without: affirm
        # "usps says they never got the parcel from the seller" was here; since the seller-didn't-send examples
        # (issue 18) it reads as a dispute, which it may well be: the synonyms are what this case is about
        ("cltiktok", "the usps site shows no update on my parcel", "delivery_tracking"),  # courier, package
        ("ttr-e", "can you email me a bill", "billing_invoice"),  # without: contact_channels ("bill" is only
        ("ttr-e", "i need the bill", "billing_invoice"),  # in "my phone bill is too high"); without: not understood
    ],
)
def test_new_words_for_known_things(matchers, brand, text, expected):
    assert intent(matchers, brand, text) == expected


def test_near_copy_lookup_by_length_finds_what_a_full_scan_finds(matchers):
    from rapidfuzz import fuzz, process
    from ruamel.yaml import YAML

    def full_scan(examples: list[str], query: str):
        found = process.extract(query, examples, scorer=fuzz.ratio, score_cutoff=hybrid.NEAR_CUTOFF, limit=None)
        if not found:
            return None
        top = max(score for _, score, _ in found)
        return min(i for _, score, i in found if score == top), top

    dev = YAML(typ="safe").load((REPO_ROOT / "tests" / "data" / "dev.yaml").read_text())
    hits = 0
    for brand, matcher in matchers.items():
        queries = [
            " ".join(w for w in matcher.analyzer.words(d["text"]) if w != BREAK) for d in dev if d["brand"] == brand
        ]
        queries += [e[:-1] for e in matcher.examples[::7]] + [e + "s" for e in matcher.examples[::11]]
        for query in queries:
            expected = full_scan(matcher.examples, query)
            assert matcher.near_copies.best(query) == expected, query
            hits += expected is not None
    assert hits > 100  # the comparison covered real near-copies, not only misses


def test_character_features_remembered_per_word_equal_the_plain_ones(matchers):
    """The matcher keeps each word's character-gram columns; the features it
    scores must be what counting the message's grams gives, for words seen
    before and new ones, and after the memory is emptied."""
    from ruamel.yaml import YAML

    dev = YAML(typ="safe").load((REPO_ROOT / "tests" / "data" / "dev.yaml").read_text())
    for brand, matcher in matchers.items():
        texts = [d["text"] for d in dev if d["brand"] == brand][:80] + ["zqxj wxyzzy refundd", "a", ""]
        for _round in range(2):
            for text in texts:
                word_features, spelt = matcher.analyzer.feature_words(matcher.analyzer.words(text))
                _, char_features = matcher.analyzer.features(matcher.analyzer.words(text))
                cols, values = matcher.char_grams.vector(spelt)
                plain_cols, plain_values = matcher.chars.vector(char_features)
                assert dict(zip(cols.tolist(), values.tolist(), strict=True)) == pytest.approx(
                    dict(zip(plain_cols.tolist(), plain_values.tolist(), strict=True))
                ), text
            matcher.char_grams._columns.clear()


def _clean_in_full(text: str) -> str:
    """normalize._clean without its shortcuts: every step on every text."""
    import unicodedata

    from chatbot.nlu.normalize import _SLASHED, _SLASHED_WORDS, RECORD_PATTERNS

    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'").replace("´", "'")
    for pattern, placeholder in RECORD_PATTERNS:
        text = pattern.sub(placeholder, text)
    return _SLASHED.sub(lambda m: " " + _SLASHED_WORDS[m.group(1)] + " ", text)


@pytest.mark.parametrize(
    "text",
    [
        "where is CT-100234",
        "ｃｔ－１００２３４ pls",
        "CT-١٠٠٢٣٤",
        "mail jo@x.io",
        "i paid $12 w/ card",
        "w/o a receipt b/c lost",
        "it’s `fine´",
        "ÉTÉ Straße",
        "nothing special here",
        "",
    ],
)
def test_normalising_shortcuts_change_nothing(text):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from chatbot.nlu.normalize import _clean

    assert _clean(text) == _clean_in_full(text)

    alphabet = st.sampled_from(list("ctrfwdT0123456789١٢@#$/.-_: abo’‘`´ｃ１é") + ["usd", "w/", "b/c", "n/a"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(alphabet, max_size=30).map("".join))
    def same(generated: str) -> None:
        assert _clean(text + generated) == _clean_in_full(text + generated)

    same()


def test_cross_validation_folds_are_stable_under_edits():
    """Each example is tested exactly once, by a model that never saw it, and
    adding an example moves no other example to another fold."""
    from chatbot.nlu.training import FOLDS, examples_in_order, fold_of

    def tested_in(data):
        return {(label, example): fold_of(label, example) for label, example in examples_in_order(data)}

    data = BRANDS["ttr-e"].training_data()
    before = tested_in(data)
    assert len(before) == sum(len(v) for v in data.values())
    folds = list(before.values())
    assert min(folds.count(f) for f in range(FOLDS)) > len(before) / FOLDS * 0.7  # folds of similar size
    edited = {label: list(examples) for label, examples in data.items()}
    edited["greet"] = edited["greet"] + ["hello, i run three shops", "hey, partner here"]
    after = tested_in(edited)
    assert {k: v for k, v in after.items() if k in before} == before


def test_a_message_is_parsed_clause_by_clause(matchers):
    """A greeting and a question, or two questions: one parse each, for the dialogue to answer each."""
    from chatbot.nlu.clauses import ClauseWords, parse_clauses

    words = ClauseWords(greetings=frozenset({("hey",), ("hi", "there")}), joiners=frozenset({("and",)}))
    greeting, question = parse_clauses(matchers["cltiktok"], words, "hey where is my order CT-100234")
    assert (greeting.text, greeting.intent) == ("hey", "greet")
    assert (question.text, question.intent) == ("where is my order CT-100234", "order_status")
    first, second = parse_clauses(matchers["ttr-e"], words, "how much is the all in one package and how do i pay")
    assert (first.intent, second.intent) == ("service_pricing", "payment_methods")
    whole = matchers["cltiktok"].parse("cancel it and refund")
    assert parse_clauses(matchers["cltiktok"], words, "cancel it and refund", whole) == [whole]  # one request
