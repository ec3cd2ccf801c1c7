"""Small word lists the matcher reasons with. No brand's data lives here:
what a brand supports is learnt from its examples; these lists only say
what kind of word a word is.

OTHER_COMPANIES: well-known companies, services and products that are not
ours. A message that names one reads as out of scope unless the brand's own
in-scope examples use that name (cltiktok's customers may well "pay with
PayPal" or ask which carrier, so payment providers, carriers and e-mail
providers are deliberately absent: naming them is part of an in-scope ask).
Every such name also becomes the shared feature OTHER_COMPANY, so the weight
learnt from "cancel my spotify" carries over to "cancel hulu"."""

from __future__ import annotations

OTHER_COMPANY = "xothercompany"

OTHER_COMPANIES = frozenset(
    """
amazon amzn ebay etsy shein temu aliexpress alibaba walmart costco bestbuy ikea zara uniqlo nike adidas
sephora ulta wayfair macys kohls nordstrom asos zalando shopee lazada mercari poshmark depop vinted
craigslist wix squarespace shopify woocommerce bigcommerce godaddy wordpress homedepot lowes walgreens cvs
kroger safeway tesco sainsburys asda lidl aldi argos currys flipkart rakuten taobao netflix hulu disney
disneyplus hbo hbomax spotify youtube twitch paramount crunchyroll audible kindle deezer
soundcloud primevideo appletv instagram facebook fb whatsapp snapchat twitter reddit pinterest linkedin
discord telegram wechat tinder bumble tumblr quora microsoft xbox playstation psn nintendo steam roblox
fortnite minecraft epicgames valorant iphone ipad macbook airpods samsung huawei xiaomi oneplus
motorola lenovo dell asus acer icloud itunes onedrive dropbox canva adobe photoshop doordash grubhub
ubereats deliveroo instacart postmates justeat gopuff uber lyft didi airbnb expedia tripadvisor trivago
ryanair easyjet lufthansa jetblue klm airfrance verizon att tmobile vodafone
comcast xfinity citibank citi wellsfargo bofa hsbc barclays natwest lloyds santander revolut monzo
sofi robinhood coinbase binance kraken etrade vanguard schwab netgear linksys tplink alexa siri cortana
planetfitness peloton duolingo coursera udemy chegg grammarly starbucks mcdonalds kfc dominos pizzahut
chipotle wendys irs dmv googledrive googleplay
""".split()
)

# Multi-word names, joined before the lookup ("uber eats" → ubereats).
OTHER_COMPANY_PHRASES = {
    ("uber", "eats"): "ubereats",
    ("best", "buy"): "bestbuy",
    ("home", "depot"): "homedepot",
    ("planet", "fitness"): "planetfitness",
    ("t", "mobile"): "tmobile",
    ("at", "t"): "att",
    ("wells", "fargo"): "wellsfargo",
    ("prime", "video"): "primevideo",
    ("apple", "tv"): "appletv",
    ("disney", "plus"): "disneyplus",
    ("hbo", "max"): "hbomax",
    ("just", "eat"): "justeat",
    ("epic", "games"): "epicgames",
    ("pizza", "hut"): "pizzahut",
    ("bank", "of", "america"): "bofa",
    ("apple", "id"): "icloud",
    ("google", "drive"): "googledrive",
    ("google", "play"): "googleplay",
}

# A negator followed by one of these is a negated wish ("I don't want to
# cancel", "not asking for a refund"): what follows is not what they ask.
NEGATORS = frozenset({"not", "never", "no"})
DESIRE = frozenset(
    {
        "want",
        "wanna",
        "need",
        "wish",
        "asking",
        "ask",
        "trying",
        "try",
        "looking",
        "mean",
        "meant",
        "planning",
        "plan",
        "going",
        "interested",
        "like",
        "requesting",
        "after",
    }
)
# Words that end a negated wish: a new clause starts ("..., just tell me").
CLAUSE_WORDS = frozenset(
    {"just", "but", "only", "instead", "rather", "i", "so", "because", "actually", "simply", "though"}
)
NEGATION_SCOPE = 4

# Words too common to carry an intent or to be spell-corrected.
STOPWORDS = frozenset(
    """
i a an the to of is it my me you your and or in on for do am are be can at this that with we so if
was were been has have had will would could should did does not no yes ok oh hi hey by from as but
about what when where how why who which there here they them their our us he she his her its
just please thanks thank very really also too any some get got all one up out
""".split()
)

# Words that say nothing about what a message is about, for the share of
# unknown words: function words and chat fillers ("lol", "um", "omg").
# Intent words like thanks/yes/no/hi stay out of this list: they count.
FUNCTION_WORDS = frozenset(
    """
i a an the to of is it my me you your and or in on for do am are be can at this that with we so if
was were been has have had will would could should did does by from as but about what when where how
why who which there here they them their our us he she his her its just also too any some get got
all one up out there then than into over after before again very really still even
lol lmao lmfao rofl omg um umm uh uhh hmm hmmm haha hahaha wtf ugh bro man dude guys guy like literally
basically honestly actually seriously yo yall gonna pls please kindly hello
""".split()
)

# Words customers use for the same thing in a support chat. A message word
# the brand's examples never use is read as the group's word they use most
# ("my parcel" → "my package" when the examples say package), so a new way
# of saying a known thing is not scored as an unknown, off-topic word. Only
# unknown words are replaced: a word the brand's examples use keeps its own
# meaning. General English for shops and payments; no brand's data.
SYNONYM_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(g.split())
    for g in """
package parcel packet
courier carrier dhl usps ups fedex dpd evri hermes gls royalmail
shipment consignment
order purchase
refund reimbursement reimburse moneyback
cancel undo revoke rescind
invoice bill receipt
track trace locate whereabouts
broken damaged cracked smashed busted shattered defective faulty
wrong incorrect mistaken
late delayed overdue
missing lost
password passcode
account profile
phone mobile cellphone cell
human person agent representative rep operator staff
change modify edit alter amend
delete erase
fee surcharge commission
discount coupon voucher promo
shipping postage
seller merchant vendor
buyer purchaser
money funds cash
installments instalments
withdraw withdrawal cashout
deposit topup
site website
app application
""".strip().splitlines()
)
