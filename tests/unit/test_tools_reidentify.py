"""Send-time re-identification: the filled message keeps the copy, fits the policy, and only the name gives way."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.sms import sms_length
from guardrails.copy import sms_problems
from guardrails.policy import SmsPolicy, policy_from_mapping
from tools.marketing.reidentify import name_candidates, reidentify

DEFAULT_SMS = SmsPolicy()
PROMO = "HV-AB12-CD"  # the sandbox POS's code shape: 10 characters, the policy's promo_code_length


def _at_the_limit(sms: SmsPolicy) -> str:
    """SMS copy exactly at the policy's GSM-7 limit once {first_name}/{promo_code} take their budgets."""
    head = "Hi {first_name}, code {promo_code}. "
    tail = " " + sms.opt_out_text
    budgeted = len(head) - len("{first_name}{promo_code}") + sms.first_name_budget + sms.promo_code_length
    filler = sms.max_length - budgeted - len(tail)
    text = head + "x" * filler + tail
    assert sms_problems(text, sms) == []
    return text


def test_fills_only_the_two_placeholders() -> None:
    text = "Hi {first_name}, use {promo_code} for 15% off {0} {unknown}"
    assert reidentify(text, given_name="Maria Gonzalez", promo_code=PROMO) == (
        f"Hi Maria, use {PROMO} for 15% off {{0}} {{unknown}}"
    )
    assert reidentify("Hi {first_name}!", given_name=None, promo_code=None) == "Hi there!"
    assert reidentify("Hi {first_name}!", given_name="  Eve; <b>", promo_code=None) == "Hi Eve!"
    assert reidentify("Code {promo_code}", given_name="Maria", promo_code=None) == "Code {promo_code}"


def test_name_gives_way_in_order() -> None:
    assert name_candidates("Zoë-Anne Smith") == ["Zoë-Anne", "Zoë", "Zoe-Anne", "Zoe", "there", ""]
    assert name_candidates("王芳") == ["王芳", "there", ""]
    assert name_candidates("<script>") == ["script", "there", ""]
    assert name_candidates(None) == ["there", ""]


def test_long_and_non_gsm_names_never_break_the_segment() -> None:
    text = _at_the_limit(DEFAULT_SMS)
    fits = DEFAULT_SMS.fits
    assert reidentify(text, given_name="Maximiliana", promo_code=PROMO, fits=fits) == text.replace(
        "{first_name}", "Maximiliana").replace("{promo_code}", PROMO)
    # 14 letters do not fit a 12-character budget at the limit: the greeting falls back, not a cut name.
    assert (reidentify(text, given_name="Christopherson", promo_code=PROMO, fits=fits) or "").startswith("Hi there,")
    # One accent outside GSM-7 would make the whole SMS UCS-2 (70): folded instead.
    assert (reidentify(text, given_name="Zoë", promo_code=PROMO, fits=fits) or "").startswith("Hi Zoe,")
    assert (reidentify(text, given_name="王芳", promo_code=PROMO, fits=fits) or "").startswith("Hi there,")
    # A short UCS-2 message keeps the name as written.
    short = "Hi {first_name}! Reply STOP to opt out"
    assert reidentify(short, given_name="王芳", promo_code=PROMO, fits=fits) == "Hi 王芳! Reply STOP to opt out"


def test_copy_over_the_limit_is_not_sent() -> None:
    too_long = "{first_name}" + "x" * 170 + " Reply STOP to opt out"
    assert reidentify(too_long, given_name="Al", promo_code=PROMO, fits=DEFAULT_SMS.fits) is None


def test_no_room_for_there_drops_the_name_cleanly() -> None:
    def tight(max_length: int) -> SmsPolicy:
        return policy_from_mapping(
            {"sms": {"max_length": max_length, "first_name_budget": 0, "promo_code_length": 0}}
        ).sms

    text = "{first_name}, 10% off! Reply STOP to opt out"  # 30 without a name, 37 with "there"
    assert reidentify(text, given_name="Bartholomew", promo_code=None, fits=tight(32).fits) == (
        "10% off! Reply STOP to opt out"
    )
    greeting = "Hi {first_name}, 5% off! Reply STOP to opt out"  # 33 without a name
    assert reidentify(greeting, given_name="Bartholomew", promo_code=None, fits=tight(34).fits) == (
        "Hi, 5% off! Reply STOP to opt out"
    )


NAME_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    + list("éñüøåÆßàÉ")  # GSM-7 has these
    + list("ëçōłșžąćğıİ")  # it does not
    + ["王", "芳", "Ж", "ά", "😀", "'", "-", " ", "<", ">", "{", "}"]
)
POLICIES = st.builds(
    lambda max_length, opt_out, budget: policy_from_mapping(
        {"sms": {"max_length": max_length, "opt_out_text": opt_out, "first_name_budget": budget}}
    ).sms,
    st.integers(min_value=80, max_value=320),
    st.sampled_from(["Reply STOP to opt out", "Text STOP to end", "STOP=stop", "Antworte STOP zum Abmelden"]),
    st.integers(min_value=5, max_value=20),
)


@settings(max_examples=300, deadline=None)
@given(name=st.text(NAME_ALPHABET, min_size=1, max_size=40), sms=POLICIES)
@example(name="Christopherson-Montgomery", sms=DEFAULT_SMS)
@example(name="Ζωή", sms=DEFAULT_SMS)
def test_sent_sms_fits_the_policy_for_any_first_name(name: str, sms: SmsPolicy) -> None:
    """Names of 1-40 characters, GSM-7 or not: the filled SMS stays within the policy's limit for its
    encoding (160 GSM-7 / 70 UCS-2 by default), keeps the opt-out text and the promo code."""
    text = _at_the_limit(sms)
    sent = reidentify(text, given_name=name, promo_code=PROMO, fits=sms.fits)
    assert sent is not None
    length, gsm = sms_length(sent)
    assert length <= sms.limit_for(gsm=gsm)
    assert sent.endswith(sms.opt_out_text) and PROMO in sent
    assert "{first_name}" not in sent and "{promo_code}" not in sent
