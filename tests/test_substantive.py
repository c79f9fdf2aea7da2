"""The non-answer detector on real-looking answers to "Is there anything missing from the draft
Police and Crime Plan?": non-answers are flagged with a reason, and answers that merely *start*
like one ("No police presence on my estate") are kept as substantive."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.substantive import REASONS, flag_non_substantive, non_answer_reason

NON_ANSWERS = [
    # (answer, reason)
    ("", "empty"),
    ("   ", "empty"),
    ("\t\n", "empty"),
    (None, "empty"),
    ("-", "no_text"),
    ("?", "no_text"),
    ("...", "no_text"),
    ("…", "no_text"),
    ("---", "no_text"),
    ("?!", "no_text"),
    ("\U0001f44d", "no_text"),  # thumbs up
    ("\U0001f937\u200d\u2640\ufe0f", "no_text"),  # shrug, with joiner and variation selector
    ("\U0001f642\U0001f642", "no_text"),
    ("No", "no_answer"),
    ("no.", "no_answer"),
    ("NO", "no_answer"),
    ("Nope", "no_answer"),
    ("Did not answer", "no_answer"),  # survey platforms' placeholder (810 rows in the NHS data)
    ("not answered", "no_answer"),
    ("nah", "no_answer"),
    ("Nope, looks fine", "no_answer"),
    ("No, all good", "no_answer"),
    ("No - looks good", "no_answer"),
    ("No \u2013 looks good", "no_answer"),
    ("No \U0001f44d", "no_answer"),
    ("no :)", "no_answer"),
    ("n/a", "no_answer"),
    ("N/A", "no_answer"),
    ("N/a.", "no_answer"),
    ("N.A.", "no_answer"),
    ("n / a", "no_answer"),
    ("Not applicable", "no_answer"),
    ("nil", "no_answer"),
    ("None", "no_answer"),
    ("none.", "no_answer"),
    ("None whatsoever", "no_answer"),
    ("None that I can see", "no_answer"),
    ("no comment", "no_answer"),
    ("No comments", "no_answer"),
    ("no further comments", "no_answer"),
    ("No suggestions", "no_answer"),
    ("nothing", "no_answer"),
    ("Nothing at all", "no_answer"),
    ("Nothing really", "no_answer"),
    ("Nothing missing", "no_answer"),
    ("Nothing to add, thanks", "no_answer"),
    ("Nothing else to add.", "no_answer"),
    ("I have nothing to add", "no_answer"),
    ("Nothing comes to mind at the moment", "no_answer"),
    ("Nothing springs to mind", "no_answer"),
    ("Nothing that I know of", "no_answer"),
    ("not really", "no_answer"),
    ("Not really, no", "no_answer"),
    ("Not really no", "no_answer"),
    ("nah not really", "no_answer"),
    ("No, nothing", "no_answer"),
    ("Nope nothing", "no_answer"),
    ("Not at the moment", "no_answer"),
    ("Not that I can think of", "no_answer"),
    ("Not that I'm aware of", "no_answer"),
    ("No I don't think so", "no_answer"),
    ("Can't think of anything", "no_answer"),
    ("cant think of anything", "no_answer"),
    ("No thank you", "no_answer"),
    ("No, thanks", "no_answer"),
    ("No. Thank you.", "no_answer"),
    ("Honestly, no", "no_answer"),
    ("Thanks!", "no_answer"),
    ("Prefer not to say", "no_answer"),
    ("Same as above", "no_answer"),
    ("x", "no_answer"),
    ("asdf", "no_answer"),
    ("Don't know", "dont_know"),
    ("Don\u2019t know", "dont_know"),
    ("I don't know", "dont_know"),
    ("dont know tbh", "dont_know"),
    ("Don't know, sorry", "dont_know"),
    ("dunno", "dont_know"),
    ("idk", "dont_know"),
    ("I have no idea", "dont_know"),
    ("No idea", "dont_know"),
    ("no idea sorry", "dont_know"),
    ("Not sure", "dont_know"),
    ("not sure really", "dont_know"),
    ("Not sure, sorry", "dont_know"),
    ("I'm not sure", "dont_know"),
    ("unsure", "dont_know"),
    ("No opinion", "dont_know"),
    ("No strong views", "dont_know"),
    ("Don't know enough about it to say", "dont_know"),
    ("havent read it so cant say", "dont_know"),
    ("Not sure what you mean by missing?", "dont_know"),
    ("No, don't know", "dont_know"),  # uncertainty wins over a plain no
    ("All good", "no_suggestion"),
    ("all good thanks", "no_suggestion"),
    ("Looks fine to me", "no_suggestion"),
    ("Looks good!", "no_suggestion"),
    ("Seems comprehensive", "no_suggestion"),
    ("It's fine", "no_suggestion"),
    ("The plan is fine", "no_suggestion"),
    ("Happy with the plan", "no_suggestion"),
    ("I think you've covered everything", "no_suggestion"),
    ("Everything seems to be covered", "no_suggestion"),
    ("Yes", "no_suggestion"),
    ("Well done", "no_suggestion"),
]

SUBSTANTIVE = [
    # answers that start like a non-answer but say something
    "The police did not answer my 999 call for twenty minutes",
    "No police presence on my estate",
    "Nothing about cyclists on pavements",
    "Not enough officers",
    "None of the plan mentions older people",
    "Don't know why you closed Acton station",
    "No mention of knife crime",
    "Yes - drugs",
    "Yes, drugs",
    "Yes: knife crime",
    "Fine the drivers who speed",
    "ok but what about burglary?",
    "No. Knife crime.",
    "No. More police.",
    "Nothing on domestic violence",
    "Nothing is done about burglary",
    "Nothing ever happens when you report a crime",
    "Not sure the plan does enough on burglary",
    "Not sure, maybe more youth clubs",
    "Not sure why stop and search isn't mentioned",
    "Nope - more police on the streets",
    "No idea why there is nothing on fraud",
    "No idea, more police I guess",
    "Nothing, except more bobbies on the beat",
    "All good except the response times",
    "None really, maybe more CCTV",
    "Looks fine but needs more on drugs",
    "n/a - but sort out the potholes",
    "Not really, but more police please",
    "Not really police but the potholes on my road",
    "No one answers 101",
    "Nobody answers 101",
    "No more cuts to neighbourhood policing",
    "I don't know any of my local officers",
    "Don't know who my ward officer is",
    "Dunno why there's no youth clubs",
    "I have no idea who to call when my car is broken into",
    "Can't say I've seen a police officer in months",
    "None of the officers live in London",
    "Not applicable to me but my son was stabbed",
    "Nothing, because nobody listens",
    "Honestly? More police.",
    "Thanks for nothing, the police never come",
    "Sorry but you never answer 101",
    "Happy with it but want more CCTV",
    "Same as above - more police",
    "Pass laws against drill music",
    "Skip the consultations and hire officers",
    "Not yet, but ask me after the riots",
    "Everything is fine apart from drugs",
    "Well done on the plan, but where is fraud?",
    "The plan's fine. It's the Home Office that needs a plan.",
    "I dont think the police care about my area",
    # plain substantive answers, short and long
    "Drugs",
    "Knife crime",
    "More police",
    "CCTV",
    "Racism in the Met",
    "Stop and search",
    "DNA testing for dog mess",
    "\u00a3200 fines for fly-tipping",
    "Moped crime \U0001f621",
    "Drugs. Just legalise cannabis and tax it, the war on drugs has failed.",
]


@pytest.mark.parametrize(("text", "reason"), NON_ANSWERS)
def test_non_answers(text, reason):
    assert non_answer_reason(text) == reason


@pytest.mark.parametrize("text", SUBSTANTIVE)
def test_substantive_answers(text):
    assert non_answer_reason(text) is None


def test_table_is_big_enough_and_covers_every_reason():
    assert len(NON_ANSWERS) + len(SUBSTANTIVE) >= 60
    assert {r for _, r in NON_ANSWERS} == set(REASONS)
    assert REASONS == ("empty", "no_text", "no_answer", "dont_know", "no_suggestion")


def test_extra_non_answers():
    extra = ["See Q4", "As per my previous answer."]
    assert non_answer_reason("see q4.", extra) == "no_answer"
    assert non_answer_reason("As per my previous answer", extra) == "no_answer"
    assert non_answer_reason("No, see Q4", extra) == "no_answer"
    assert non_answer_reason("See Q4 - and more police", extra) is None
    assert non_answer_reason("see q4") is None  # only when configured


def test_flag_non_substantive_frame():
    texts = pd.Series(["More police", "n/a", "", "Don't know"], index=[10, 11, 12, 13])
    flags = flag_non_substantive(texts)
    assert list(flags.columns) == ["substantive", "non_substantive_reason"]
    assert list(flags.index) == [10, 11, 12, 13]
    assert flags["substantive"].dtype == bool
    assert flags["substantive"].tolist() == [True, False, False, False]
    assert flags["non_substantive_reason"].tolist() == ["", "no_answer", "empty", "dont_know"]
