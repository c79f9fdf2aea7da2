"""Word lists the redaction rules lean on, all offline.

- First and last names: the US census name lists shipped in the `names` package (MIT; 5,494
  first names, 88,799 surnames), plus first names common in London that the census lacks.
  They let a rule recognise a name written in lower case ("my son jake"), where spaCy's NER
  sees nothing.
- Word frequencies: spaCy's `en_lexeme_prob` table from spacy-lookups-data (log probability
  per lower-cased word). A name that is also an everyday word ("will", "mark", "hope") is only
  redacted after a strong cue; a name list alone must not eat ordinary words.
- Public names: public figures and widely reported victims named in debate about policing in
  London, never redacted (the workspace's `redaction_allow` adds to them).
- Non-persons: organisations and places that spaCy's NER mistakes for people. They only veto
  NER guesses; a rule with a cue ("Mr Sutton", "my friend Chelsea") still redacts.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

# Public figures and widely reported victims: quoting them exposes no private person.
PUBLIC_NAMES: tuple[str, ...] = (
    # Mayors, ministers, commissioners and others in office or public debate
    "Sadiq Khan",
    "Boris Johnson",
    "Ken Livingstone",
    "Sophie Linden",
    "Kaya Comer-Schwartz",
    "Mark Rowley",
    "Sir Mark Rowley",
    "Cressida Dick",
    "Dame Cressida Dick",
    "Bernard Hogan-Howe",
    "Stephen House",
    "Lynne Owens",
    "Louise Casey",
    "Baroness Casey",
    "Casey Review",
    "Casey report",
    "Keir Starmer",
    "Rishi Sunak",
    "Theresa May",
    "Liz Truss",
    "David Cameron",
    "Tony Blair",
    "Gordon Brown",
    "Margaret Thatcher",
    "Winston Churchill",
    "Priti Patel",
    "Suella Braverman",
    "James Cleverly",
    "Yvette Cooper",
    "Shabana Mahmood",
    "Diane Abbott",
    "David Lammy",
    "Dawn Butler",
    "Robert Peel",
    "Sir Robert Peel",
    "King Charles",
    "Queen Elizabeth",
    "Prince William",
    "Andy Burnham",
    # victims and cases widely reported and named in public debate
    "Sarah Everard",
    "Stephen Lawrence",
    "Doreen Lawrence",
    "Neville Lawrence",
    "Chris Kaba",
    "Zara Aleena",
    "Sabina Nessa",
    "Bibaa Henry",
    "Nicole Smallman",
    "Jean Charles de Menezes",
    "Mark Duggan",
    "Damilola Taylor",
    "Ian Tomlinson",
    "Lee Rigby",
    "Jo Cox",
    "David Amess",
    "Daniel Morgan",
    "Blair Peach",
    "Cynthia Jarrett",
    "Cherry Groce",
    "Rachel Nickell",
    "Baby P",
    "Child Q",
    "Victoria Climbie",
    "Victoria Climbié",
    "Olivia Pratt-Korbel",
    "Brianna Ghey",
    "Harry Dunn",
    "Grenfell",
    # offenders named in the same debate
    "Wayne Couzens",
    "David Carrick",
)

# Famous addresses that are places, not someone's home.
PUBLIC_PLACES: tuple[str, ...] = (
    "10 Downing Street",
    "11 Downing Street",
    "221B Baker Street",
    "221b Baker St",
    "New Scotland Yard",
    "Scotland Yard",
    "City Hall",
    "Number 10",
    "No 10",
    "No. 10",
)

# Organisations, slogans and places that NER has been seen to tag PERSON (lower case). They
# veto only NER guesses and uncued name-list matches, wherever such a guess lies inside one.
_ORGANISATIONS = """
    victim support|crimestoppers|crime stoppers|childline|samaritans|refuge|shelter|mind|
    barnardo's|st mungo's|women's aid|citizens advice|action fraud|neighbourhood watch|
    scotland yard|police scotland|met police|metropolitan police|the met|mopac|iopc|tfl|
    home office|home secretary|peelian|bobbies|bobby|copper|coppers|pcso|pcsos|the havens|
    safer schools|safer neighbourhood|kill the bill|extinction rebellion|black lives matter|
    dixon of dock green|the bill|line of duty|brexit|covid|covid-19|coronavirus|corona|
    lockdown|ulez|lgbt|lgbtq|lgbtqia|scarman|macpherson|couzens|carrick|everard
"""
# London boroughs and districts, and the counties and cities around (not those that are
# mostly first names: "lee", "kew").
_PLACES = """
    barking|dagenham|barnet|bexley|brent|bromley|camden|croydon|ealing|enfield|greenwich|
    hackney|hammersmith|fulham|haringey|harrow|havering|hillingdon|hounslow|islington|
    kensington|chelsea|kingston|kingston upon thames|lambeth|lewisham|merton|newham|redbridge|
    richmond|southwark|sutton|tower hamlets|waltham forest|wandsworth|westminster|
    city of london|acton|aldgate|alperton|anerley|archway|arnos grove|balham|bankside|
    barbican|barnes|barnsbury|battersea|bayswater|beckenham|becontree|belgravia|bellingham|
    belsize park|belvedere|bermondsey|bethnal green|bexleyheath|blackfriars|blackheath|
    bloomsbury|bounds green|bow|bowes park|brent cross|brentford|brixton|brockley|
    bromley-by-bow|brondesbury|bruce grove|burnt oak|camberwell|canary wharf|canning town|
    canonbury|carshalton|catford|chadwell heath|chalk farm|charlton|cheam|chessington|
    chingford|chipping barnet|chiswick|clapham|clapham common|clapton|clerkenwell|
    cockfosters|colindale|collier row|colliers wood|coulsdon|covent garden|cricklewood|
    crouch end|crystal palace|cubitt town|custom house|dalston|denmark hill|deptford|
    dollis hill|downham|dulwich|earls court|earlsfield|east ham|east sheen|edgware|edmonton|
    elephant and castle|elm park|eltham|erith|euston|feltham|finchley|finsbury|finsbury park|
    fitzrovia|forest gate|forest hill|gants hill|golders green|goodmayes|gospel oak|
    greenford|grove park|gunnersbury|hackney wick|haggerston|hainault|hampstead|hanwell|
    hanworth|harlesden|harold hill|harringay|hatch end|hayes|hendon|herne hill|highams park|
    highbury|highgate|hither green|holborn|holland park|holloway|homerton|honor oak|
    hornchurch|hornsey|hoxton|ickenham|ilford|isle of dogs|isleworth|kennington|kensal green|
    kensal rise|kentish town|kidbrooke|kilburn|king's cross|kings cross|kingsbury|
    knightsbridge|ladbroke grove|leyton|leytonstone|limehouse|lisson grove|little venice|
    maida vale|manor house|manor park|marylebone|mayfair|mile end|mill hill|millwall|mitcham|
    morden|mortlake|muswell hill|neasden|new cross|new malden|norbury|northolt|northwood|
    norwood|notting hill|nunhead|oakwood|old kent road|orpington|osterley|oxford circus|
    paddington|palmers green|park royal|peckham|peckham rye|penge|perivale|petts wood|
    piccadilly|piccadilly circus|pimlico|pinner|plaistow|plumstead|ponders end|poplar|
    purley|putney|queensbury|rainham|raynes park|roehampton|romford|rotherhithe|ruislip|
    seven kings|seven sisters|shadwell|shepherd's bush|shepherds bush|shoreditch|sidcup|
    silvertown|snaresbrook|soho|southall|southgate|spitalfields|stamford hill|stanmore|
    stepney|stockwell|stoke newington|stonebridge|stratford|streatham|sudbury|surbiton|
    surrey quays|swiss cottage|sydenham|teddington|thamesmead|thornton heath|tolworth|
    tooting|tottenham|tottenham court road|tufnell park|tulse hill|twickenham|upminster|
    upton park|uxbridge|vauxhall|walthamstow|walworth|wanstead|wapping|waterloo|welling|
    wembley|west drayton|west ham|whetstone|whitechapel|whitehall|white city|willesden|
    wimbledon|winchmore hill|wood green|woodford|woolwich|worcester park|yiewsley|leicester
    square|charing cross|heathrow|gatwick|kent|essex|surrey|sussex|middlesex|hertfordshire|
    herts|berkshire|buckinghamshire|bucks|home counties|dartford|gravesend|basildon|southend|
    chelmsford|watford|luton|slough|reading|brighton|birmingham|manchester|liverpool|leeds|
    bristol|scotland|wales|ireland|england|britain|london|greater london
"""
NON_PERSONS: frozenset[str] = frozenset(
    " ".join(p.split()) for p in (_ORGANISATIONS + "|" + _PLACES).split("|") if p.strip()
)
COMPASS: frozenset[str] = frozenset("north south east west central upper lower greater".split())

# Words that follow a name-like word when it is a place or an organisation ("Victoria line").
PLACE_WORDS: frozenset[str] = frozenset(
    """
    station stations road rd street st lane avenue ave close drive way gardens grove crescent
    place terrace court hill square sq circus common park green rye broadway estate line
    tube overground underground bus central cross gate junction bridge market high parade
    palace wharf quay yard row walk rise mews vale view heights tower towers house mansions
    borough council police team unit service services trust support aid advice watch centre
    center college school academy university hospital church mosque temple synagogue club
    fc united city town village ward constituency review report inquiry principles
    """.split()
)

STREET_TYPES: tuple[str, ...] = (
    "road",
    "rd",
    "street",
    "st",
    "avenue",
    "ave",
    "lane",
    "ln",
    "close",
    "drive",
    "way",
    "gardens",
    "gdns",
    "grove",
    "crescent",
    "cres",
    "place",
    "pl",
    "terrace",
    "court",
    "ct",
    "hill",
    "square",
    "sq",
    "mews",
    "row",
    "walk",
    "rise",
    "parade",
    "green",
    "park",
    "vale",
    "view",
    "gate",
    "path",
    "approach",
    "broadway",
    "boulevard",
    "embankment",
    "wharf",
    "yard",
    "house",
    "mansions",
    "heights",
    "tower",
    "estate",
)

# Titles and ranks that a surname follows ("Mr. Jones", "DS Crabtree").
TITLES: frozenset[str] = frozenset(
    """
    mr mrs ms miss mx dr doctor prof professor sir dame lord lady rev revd reverend father
    cllr councillor pc wpc dc ds di dci dsu ps sgt sergeant insp inspector constable detective
    supt superintendent pcso officer commander ch chief judge nurse sister brother imam rabbi
    """.split()
)
# Rank words that may sit between a title and the name ("Detective Chief Inspector Ojo").
RANK_WORDS: frozenset[str] = frozenset(
    """
    detective chief inspector sergeant constable superintendent deputy assistant acting
    temporary police special pc dc ds di dci sgt insp supt commander commissioner officer
    """.split()
)
# People a respondent names by their relation to them ("my ex-partner Daniel").
RELATIONS: frozenset[str] = frozenset(
    """
    neighbour neighbor neighbours neighbors son daughter husband wife partner friend mate
    brother sister mum mom mother dad father cousin nephew niece colleague landlord landlady
    boyfriend girlfriend grandson granddaughter grandchild uncle aunt auntie child kid lad
    carer flatmate housemate boss tenant stepson stepdaughter stepdad stepmum stepfather
    stepmother fiance fiancé fiancee fiancée spouse ex exhusband exwife expartner exboyfriend
    exgirlfriend brother-in-law sister-in-law son-in-law daughter-in-law mother-in-law
    father-in-law grandma grandmother grandad granddad grandfather nan nana gran pal bestie
    classmate teacher manager supervisor colleague coworker co-worker
    """.split()
)
# Nationalities, ethnicities and faiths: "I'm Bangladeshi" describes, it does not name.
DEMONYMS: frozenset[str] = frozenset(
    """
    afghan albanian algerian american angolan arab bangladeshi bengali brazilian british
    bulgarian caribbean chinese colombian congolese cypriot eritrean ethiopian filipino french
    german ghanaian greek gujarati gypsy indian iranian iraqi irish italian jamaican japanese
    kenyan korean kurdish latvian lithuanian malaysian moroccan nepalese nigerian pakistani
    palestinian polish portuguese punjabi romanian roma russian scottish somali spanish
    sudanese syrian tamil traveller trinidadian turkish ugandan ukrainian vietnamese welsh
    yemeni zimbabwean african asian european english muslim christian jewish hindu sikh
    buddhist catholic londoner cockney
    """.split()
)
# Capitalised words that are not names where a name could stand ("Officer Safety").
NOT_NAMES: frozenset[str] = (
    frozenset(
        """
    police met station team safety training school council london road street the a an and or
    of in on at to who was is are be been i i'm im me my we our you your he she they it this
    that there here what when where why how not no yes all any some please thanks thank hi
    hello dear sir madam hey yeah ok okay also just very really so but if as by for from with
    about after before over under again still mum dad son daughter wife husband partner friend
    neighbour ex chief inspector sergeant constable detective superintendent commissioner
    officer officers mayor deputy assistant acting pc pcso pcsos cid ctsfo mp cllr dr mr mrs
    ms miss sgt insp from monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december british
    english scottish welsh irish black white asian muslim christian jewish hindu sikh gay
    lesbian trans disabled local resident residents victim victims witness nhs tfl email e-mail
    postcode twitter instagram insta tiktok snapchat facebook whatsapp youtube google cctv
    borough brexit covid coronavirus corona lockdown ulez lgbt lgbtq londoners
    """.split()
    )
    | DEMONYMS
)
# First names that are everyday words too often to redact without a cue.
COMMON_WORD_NAMES: frozenset[str] = frozenset(
    """
    amber april august autumn summer june may dawn crystal ivy holly hazel olive ruby pearl jade
    misty sunny rocky major king china india paris florence georgia jordan sydney austin
    dallas brooklyn chelsea victoria kingston sterling penny ginger candy brandy sherry
    mercedes bill will mark pat sue rob ray jack guy don art chase hunter hope faith joy grace
    rose lily daisy iris violet poppy heather robin drew rich frank miles cash dean earl
    precious patience charity destiny harmony liberty unity justice angel bird fox storm
    bobby nick sidney
    """.split()
)
# First names common in London that the 1990 US census lists lack.
EXTRA_FIRST_NAMES: frozenset[str] = frozenset(
    """
    mohammed muhammad mohamed ahmed ali hassan hussain omar yusuf ibrahim tariq imran kamal
    bilal hamza zain ayaan rayan aisha fatima amina zainab maryam khadija noor priya anjali
    sunita deepak rajesh ravi arjun rohan vikram sanjay gurpreet harpreet jaspreet manpreet
    kwame kofi kwaku ama akua ngozi chidi chinedu emeka olumide oluwaseun tunde ade adebayo
    femi funmilayo yetunde segun bukola niamh siobhan roisin aoife eilidh orla ciara sinead
    saoirse declan padraig cillian oisin ruairi seamus eoin callum kieran reece rhys dylan
    bethan cerys megan wojciech piotr tomasz agnieszka katarzyna marta magdalena oksana olena
    giorgos dimitri mehmet emre elif zeynep shanice tanisha jermaine tyrone dwayne delroy
    leroy marcia beverley mei ling wei jun hui xin philippa tamsin jolene precious
    finley finn alfie archie freddie reggie albie ronnie louie arlo frankie teddy rory hugo
    jude ezra kai kayden jayden harvey ollie charlie theo zachary isla freya evie poppy elsie
    sienna phoebe millie esme matilda imogen aria eliza hallie orla emilia maisie darcie darcey
    lyla mabel amira zara thea keira kiera kira chantelle jodie kayleigh leanne stacey gemma
    kerry shaun darren wayne lee dean gavin craig stuart ewan angus fraser hamish alastair
    """.split()
)
MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)


@lru_cache(maxsize=1)
def _word_logprob() -> dict[str, float]:
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def logprob(word: str) -> float:
    """Log probability of the word in English text; -20 (rare) when unknown."""
    return _word_logprob().get(word.lower(), -20.0)


def _census(kind: str) -> frozenset[str]:
    import names

    with open(names.FILES[kind], encoding="utf-8") as fh:
        return frozenset(line.split()[0].lower() for line in fh if line.strip())


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    return _census("first:male") | _census("first:female") | EXTRA_FIRST_NAMES


@lru_cache(maxsize=1)
def last_names() -> frozenset[str]:
    return _census("last")


def norm(word: str) -> str:
    """Lower case with curly apostrophes straightened, for list look-ups."""
    return word.lower().replace("’", "'")


def is_first_name(word: str) -> bool:
    return norm(word) in first_names()


def is_last_name(word: str) -> bool:
    return norm(word) in last_names()


def rare(word: str, below: float) -> bool:
    """The word is rarer than `below` (log probability) in ordinary English."""
    return logprob(norm(word)) < below
