"""Message text, subscription validation and webhook signatures (no I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from push.channels.webhook import encode_body, sign, signature_header, verify
from push.messages import Facts, body, digest_payload, format_yuan, payload, subject, why
from push.schedule import CHINA, local_day, next_digest_at
from push.subscriptions import SubscriptionIn, email_problem, muted, url_problem


def facts(**over: object) -> Facts:
    base = dict(id=7, uscc="91430111000000019T", policy_id="p1", event="newly_eligible",
                status="eligible", amount=500_000.0, title="长沙市研发奖补政策",
                met="注册在长沙市 | 营业收入2000万元以上", valid_until=dt.date(2026, 12, 31),
                days_left=184)
    base.update(over)
    return Facts(**base)  # type: ignore[arg-type]


def test_eligible_message_says_title_amount_conditions_and_deadline() -> None:
    text = why(facts())
    assert text.startswith("根据企业画像，贵企业符合《长沙市研发奖补政策》的申报条件。")
    assert "预计最高可获支持约50万元" in text
    assert "已满足的条件：注册在长沙市；营业收入2000万元以上" in text
    assert "申报截止日期：2026-12-31（还剩184天）" in text
    assert subject(facts()) == "【政策找企业】您可申报：长沙市研发奖补政策"


def test_undetermined_message_asks_for_fields_in_chinese() -> None:
    f = facts(event="newly_undetermined", status="undetermined",
              unknown="revenue | size_class | unmapped", review="已建立研发准备金制度")
    text = why(f)
    assert "请补充以下信息以确认是否符合条件：上年度营业收入、所属行业（国民经济行业分类）、" \
        "从业人员数、资产总额。" in text
    assert "以下条件需由主管部门审核确认：已建立研发准备金制度。" in text
    assert f.fields_to_fill == ["revenue", "industry_code", "employees", "total_assets"]
    assert payload(f)["fields_to_fill"] == f.fields_to_fill


def test_no_longer_eligible_says_why() -> None:
    assert "已被发布机关撤回" in why(facts(event="no_longer_eligible", cause="withdrawn",
                                         status="ineligible"))
    assert "已不再确定符合" in why(facts(event="no_longer_eligible", cause="changed",
                                         status="ineligible"))


def test_amounts_read_like_chinese_money() -> None:
    assert format_yuan(500_000) == "50万元"
    assert format_yuan(1_234_500) == "123.45万元"
    assert format_yuan(8_000) == "8,000元"
    assert format_yuan(None) == "" and format_yuan(float("nan")) == ""


def test_webhook_body_and_digest_keep_the_interface_keys() -> None:
    p = payload(facts())
    assert {"uscc", "policy_id", "event", "status", "amount", "why"} <= set(p)
    d = digest_payload("digest-1-9", "91430111000000019T", [facts(), facts(id=8, policy_id="p2")])
    assert {"uscc", "policy_id", "event", "status", "amount", "why"} <= set(d)
    assert d["event"] == "digest" and [i["policy_id"] for i in d["items"]] == ["p1", "p2"]
    assert "长沙市研发奖补政策".encode() in encode_body(p)


def test_email_body_has_the_unsubscribe_link() -> None:
    text = body(facts(), "https://pm.example.cn/unsubscribe/tok")
    assert "退订邮件提醒：https://pm.example.cn/unsubscribe/tok" in text


# --- signatures ---------------------------------------------------------------------

@given(st.binary(max_size=300), st.text(min_size=1, max_size=40), st.integers(0, 2**40))
def test_signature_is_hmac_sha256_over_timestamp_dot_body(raw: bytes, secret: str, t: int) -> None:
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    assert sign(secret, t, raw) == expected
    header = signature_header(secret, t, raw)
    assert header == f"t={t},v1={expected}"
    assert verify(secret, header, raw, t + 10)
    assert not verify(secret, header, raw + b"x", t)
    assert not verify(secret + "x", header, raw, t)
    assert not verify(secret, header, raw, t + 301)  # replayed too late


# --- validation ---------------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://hooks.example.cn/pm", "http://127.0.0.1:8080/hook?x=1",
                                 "https://企业.中国/回调", "http://[::1]:9000/h"])
def test_good_urls(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize("url", ["ftp://x.cn", "https://", "x.cn/hook", "https://u:p@x.cn",
                                 "https://x.cn/#frag", "https://x .cn", "https://-x.cn",
                                 "https://x.cn:99999/", "javascript:alert(1)", ""])
def test_bad_urls(url: str) -> None:
    assert url_problem(url)


@pytest.mark.parametrize("addr", ["a@example.cn", "finance.dept+pm@corp.example.com.cn",
                                  "caiwu@企业.cn"])
def test_good_addresses(addr: str) -> None:
    assert email_problem(addr) is None


@pytest.mark.parametrize("addr", ["", "a", "a@b", "a@@b.cn", "a b@c.cn", ".a@c.cn", "a.@c.cn",
                                  "a@c..cn", "a@-c.cn", "a@1.2", "财务@c.cn", "a@c.cn\n"])
def test_bad_addresses(addr: str) -> None:
    assert email_problem(addr)


@given(st.text(max_size=40))
def test_email_check_never_crashes_and_accepts_only_one_at(addr: str) -> None:
    problem = email_problem(addr)
    if problem is None:
        local, _, domain = addr.partition("@")
        assert addr.count("@") == 1 and local and "." in domain


@given(st.text(max_size=60))
def test_url_check_never_crashes(url: str) -> None:
    problem = url_problem(url)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        assert url.startswith(("http://", "https://"))


def test_subscription_model_defaults_and_normalises() -> None:
    sub = SubscriptionIn.model_validate(
        {"channels": [{"type": "email", "address": "A@Example.CN"}],
         "muted_topics": ["tax", "tax", "policy:p9"]})
    assert sub.digest == "immediate" and sub.daily_cap == 3
    assert sub.channels[0].address == "A@example.cn"  # type: ignore[union-attr]
    assert sub.muted_topics == ["policy:p9", "tax"]
    with pytest.raises(ValidationError, match="listed twice"):
        SubscriptionIn.model_validate({"channels": [{"type": "email", "address": "a@x.cn"},
                                                    {"type": "email", "address": "a@X.cn"}]})


def test_muting() -> None:
    topics = frozenset({"grant", "apply"})
    assert muted(["grant"], "newly_eligible", "p1", topics)
    assert muted(["policy:p1"], "newly_eligible", "p1", topics)
    assert muted(["deadline_approaching"], "deadline_approaching", "p1", topics)
    assert not muted(["tax", "policy:p2"], "newly_eligible", "p1", topics)


def test_digest_time_is_nine_in_china() -> None:
    at = next_digest_at(dt.datetime(2026, 6, 30, 0, 59, tzinfo=dt.UTC))  # 08:59 in China
    assert at.astimezone(CHINA) == dt.datetime(2026, 6, 30, 9, tzinfo=CHINA)
    at = next_digest_at(dt.datetime(2026, 6, 30, 1, 0, tzinfo=dt.UTC))  # 09:00 sharp: next day
    assert at.astimezone(CHINA) == dt.datetime(2026, 7, 1, 9, tzinfo=CHINA)
    assert local_day(dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC)) == dt.date(2026, 7, 1)
