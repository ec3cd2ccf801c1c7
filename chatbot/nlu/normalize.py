"""Text normalisation shared by every scorer: what customers type becomes
one predictable form (case, punctuation, contractions, chat shorthand, record
numbers as placeholders so the model learns "an order number", not CT-100234).

`analyse()` keeps clause breaks (`,` for any of , . ; : ! ? and the like)
because negation stops at them; `normalize()` is the same words without them."""

from __future__ import annotations

import re
import unicodedata

CONTRACTIONS = {
    "can't": "can not",
    "cant": "can not",
    "cannot": "can not",
    "cnt": "can not",
    "won't": "will not",
    "wont": "will not",
    "don't": "do not",
    "dont": "do not",
    "doesn't": "does not",
    "doesnt": "does not",
    "didn't": "did not",
    "didnt": "did not",
    "isn't": "is not",
    "isnt": "is not",
    "aren't": "are not",
    "arent": "are not",
    "wasn't": "was not",
    "wasnt": "was not",
    "weren't": "were not",
    "werent": "were not",
    "haven't": "have not",
    "havent": "have not",
    "hasn't": "has not",
    "hasnt": "has not",
    "hadn't": "had not",
    "hadnt": "had not",
    "couldn't": "could not",
    "couldnt": "could not",
    "shouldn't": "should not",
    "shouldnt": "should not",
    "wouldn't": "would not",
    "wouldnt": "would not",
    "mustn't": "must not",
    "needn't": "need not",
    "ain't": "is not",
    "aint": "is not",
    "i'm": "i am",
    "im": "i am",
    "i've": "i have",
    "ive": "i have",
    "i'll": "i will",
    "i'd": "i would",
    "you're": "you are",
    "youre": "you are",
    "you've": "you have",
    "youve": "you have",
    "you'll": "you will",
    "youll": "you will",
    "you'd": "you would",
    "it's": "it is",
    "its": "it is",
    "it'll": "it will",
    "that's": "that is",
    "thats": "that is",
    "what's": "what is",
    "whats": "what is",
    "what're": "what are",
    "where's": "where is",
    "wheres": "where is",
    "when's": "when is",
    "whens": "when is",
    "how's": "how is",
    "hows": "how is",
    "who's": "who is",
    "whos": "who is",
    "why's": "why is",
    "there's": "there is",
    "theres": "there is",
    "here's": "here is",
    "let's": "let us",
    "we're": "we are",
    "we've": "we have",
    "we'll": "we will",
    "they're": "they are",
    "theyre": "they are",
    "they've": "they have",
    "he's": "he is",
    "she's": "she is",
    "y'all": "you all",
    "ya'll": "you all",
    "how'd": "how did",
    "where'd": "where did",
    "imma": "i am going to",
    "ima": "i am going to",
    "shoulda": "should have",
    "coulda": "could have",
    "woulda": "would have",
}

# Chat shorthand. Deliberately absent: "ya", "y" and "n", which customers use
# for yes/no as often as for you/why/and; the short-message path reads them.
SHORTHAND = {
    "pls": "please",
    "plz": "please",
    "plss": "please",
    "plse": "please",
    "pleas": "please",
    "pl": "please",
    "u": "you",
    "yu": "you",
    "ur": "your",
    "urs": "yours",
    "r": "are",
    "rn": "right now",
    "asap": "as soon as possible",
    "thx": "thanks",
    "thnx": "thanks",
    "thanx": "thanks",
    "tnx": "thanks",
    "thks": "thanks",
    "ty": "thank you",
    "tysm": "thank you so much",
    "tyvm": "thank you very much",
    "tks": "thanks",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "hafta": "have to",
    "lemme": "let me",
    "gimme": "give me",
    "kinda": "kind of",
    "sorta": "sort of",
    "outta": "out of",
    "dunno": "do not know",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "bc": "because",
    "b4": "before",
    "idk": "i do not know",
    "lmk": "let me know",
    "wdym": "what do you mean",
    "nvm": "never mind",
    "msg": "message",
    "dm": "message",
    "txt": "text",
    "acct": "account",
    "acc": "account",
    "pw": "password",
    "pwd": "password",
    "passwd": "password",
    "addr": "address",
    "addy": "address",
    "pkg": "package",
    "pkgs": "packages",
    "info": "information",
    "abt": "about",
    "wat": "what",
    "wht": "what",
    "wut": "what",
    "hw": "how",
    "k": "ok",
    "kk": "ok",
    "okay": "ok",
    "okey": "ok",
    "okk": "ok",
    "oki": "ok",
    "okie": "ok",
    "yep": "yes",
    "yup": "yes",
    "yeah": "yes",
    "yeh": "yes",
    "yas": "yes",
    "yea": "yes",
    "mhm": "yes",
    "mhmm": "yes",
    "uhhuh": "yes",
    "nope": "no",
    "nah": "no",
    "naw": "no",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmrrw": "tomorrow",
    "2day": "today",
    "2morrow": "tomorrow",
    "smth": "something",
    "sth": "something",
    "sb": "somebody",
    "some1": "someone",
    "any1": "anyone",
    "no1": "no one",
    "bday": "birthday",
    "ppl": "people",
    "hrs": "hours",
    "hr": "hour",
    "mins": "minutes",
    "min": "minute",
    "secs": "seconds",
    "sec": "second",
    "wk": "week",
    "wks": "weeks",
    "mo": "month",
    "mos": "months",
    "mth": "month",
    "mths": "months",
    "yr": "year",
    "yrs": "years",
    "nd": "and",
    "btw": "by the way",
    "tho": "though",
    "altho": "although",
    "thru": "through",
    "rly": "really",
    "prolly": "probably",
    "pic": "photo",
    "pics": "photos",
    "cx": "customer",
    "cs": "customer service",
    "amt": "amount",
    "qty": "quantity",
    "txn": "transaction",
    "num": "number",
    "nr": "number",
    "nbr": "number",
    "approx": "approximately",
    "cya": "see you",
    "ttyl": "talk to you later",
    "l8r": "later",
    "gr8": "great",
    "q": "question",
    "convo": "conversation",
    "biz": "business",
    "govt": "government",
}

# Record numbers become placeholders the model can learn from.
RECORD_PATTERNS = [
    (re.compile(r"\b(?:ct)[\s\-#_:]*\d{3,8}\b", re.I), " ordernumber "),
    (re.compile(r"\b(?:tt)[\s\-#_:]*\d{3,8}\b", re.I), " purchasenumber "),
    (re.compile(r"\b(?:rf)[\s\-#_:]*\d{3,8}\b", re.I), " refundnumber "),
    (re.compile(r"\b(?:wd)[\s\-#_:]*\d{3,8}\b", re.I), " withdrawalnumber "),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), " emailaddress "),
    (re.compile(r"#\s?\d{4,8}\b"), " recordnumber "),
    (
        re.compile(r"(?:\$|usd\s?)\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars?|bucks)\b", re.I),
        " moneyamount ",
    ),
]
PLACEHOLDERS = frozenset(
    {"ordernumber", "purchasenumber", "refundnumber", "withdrawalnumber", "emailaddress", "recordnumber", "moneyamount"}
)

BREAK = ","
_WORDS = re.compile(r"[a-z0-9]+(?:['/][a-z0-9]+)*'?|[,.;:!?()]+|\s[-–—]+\s")
_ELONGATED = re.compile(r"([a-z])\1{2,}")
_SLASHED_WORDS = {"w/o": "without", "w/": "with", "b/c": "because", "n/a": "not applicable"}
_SLASHED = re.compile(r"(?<![a-z0-9])(w/o(?![a-z0-9])|w/|b/c(?![a-z0-9])|n/a(?![a-z0-9]))")
_TOKEN = re.compile(r"[a-z0-9_]+")
_RECORD_HINT = re.compile(r"[\d@]")


def _clean(text: str) -> str:
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'").replace("´", "'")
    text = text.lower().replace("`", "'")
    if _RECORD_HINT.search(text):  # every record pattern needs a digit or an @: most messages skip them
        for pattern, placeholder in RECORD_PATTERNS:
            text = pattern.sub(placeholder, text)
    if "/" in text:
        text = _SLASHED.sub(lambda m: " " + _SLASHED_WORDS[m.group(1)] + " ", text)
    return text


def analyse(text: str) -> list[str]:
    """Words in their normal form, with BREAK where a clause ends."""
    out: list[str] = []
    for raw in _WORDS.findall(_clean(" " + text + " ")):
        raw = raw.strip()
        if not raw or raw[0] in ",.;:!?()-–—":
            if out and out[-1] != BREAK:
                out.append(BREAK)
            continue
        word = raw.strip("'")
        if len(set(word)) > 1:
            # "sooo", "pleaseeee", "heyyy": three or more of a letter become two;
            # the spelling repair takes them the rest of the way ("zzzzzz" stays).
            word = _ELONGATED.sub(r"\1\1", word)
        expanded = CONTRACTIONS.get(word) or SHORTHAND.get(word)
        if expanded is None:
            if word.endswith("'s"):
                word = word[:-2]
            elif "/" in word:
                out.extend(w for w in word.replace("'", "").split("/") if w)
                continue
            expanded = word.replace("'", "")
        out.extend(expanded.split())
    while out and out[0] == BREAK:
        out.pop(0)
    while out and out[-1] == BREAK:
        out.pop()
    return out


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces, shorthand expanded."""
    return " ".join(w for w in analyse(text) if w != BREAK)


def tokens(normalized: str) -> list[str]:
    return _TOKEN.findall(normalized)
