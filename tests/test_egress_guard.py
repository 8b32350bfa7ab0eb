"""Where an outgoing webhook may go: the URL's form, the operator's allow-list, and every address
its name resolves to (no loopback, private, link-local, metadata or other non-public address
unless allowed), with the checked address the one connected to."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from app.config import ConfigError, Settings, load_settings
from app.egress_guard import (
    Pinned,
    Target,
    Unresolved,
    address_problem,
    check_webhook_url,
    parse_target,
    pin_target,
)

PUBLIC = Settings()
ALLOWED = replace(PUBLIC, webhook_allowed_hosts=("hooks.example.com", "*.ci.example.org"))
PRIVATE_OK = replace(PUBLIC, webhook_allow_private=True, webhook_allow_http=True)


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    """A resolver that gives these addresses for any name, and counts its lookups."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address checked, not bound)
        ("::", "unspecified"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("192.0.0.8", "reserved"),
        ("2001:db8::1", "reserved"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("168.63.129.16", "a cloud metadata address"),
    ],
)
def test_each_class_of_non_public_address_is_refused(address: str, kind: str) -> None:
    problem = address_problem(ipaddress.ip_address(address), allow_private=False)
    assert problem is not None
    assert kind in problem


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
    ],
)
def test_an_ipv6_address_around_a_non_public_ipv4_one_is_refused(address: str, inner: str) -> None:
    problem = address_problem(ipaddress.ip_address(address), allow_private=False)
    assert problem is not None
    assert inner in problem
    assert str(ipaddress.ip_address(address)) in problem


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_private=False) is None


def test_allowing_private_addresses_still_refuses_metadata() -> None:
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    problem = address_problem(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert problem is not None and "metadata" in problem
    mapped = address_problem(ipaddress.ip_address("::ffff:169.254.169.254"), allow_private=True)
    assert mapped is not None and "metadata" in mapped


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("file:///etc/passwd", "https"),
        ("hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https://hooks.example.com@127.0.0.1/", "user name"),
        ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
        ("https://hooks.example.com /", "no space"),
        ("https://hooks.exämple.com/", "ASCII"),
        ("https://hooks.example.com/\x00", "ASCII"),
        ("https:///path", "no host"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com./", "host name"),
        ("https://hooks_example.com/", "host name"),
        ("https://[fe80::1%25eth0]/", "%"),
        ("https://[::1/", "cannot be read"),
        ("https://[::1]x/", "cannot be read"),
        ("https://]x[/", "cannot be read"),
        ("https://a.example:b:c/", "cannot be read"),
        ("https://[zz]/", "not a plain IPv6 address"),
        ("https://hooks.example.com:/", "port"),
        ("https://hooks.example.com:+443/", "port"),
        ("https:/hooks.example.com/", "https"),
        ("https://" + "a" * 2000 + ".com/", "longer"),
    ],
)
def test_urls_of_the_wrong_form_are_refused(url: str, words: str) -> None:
    problem = check_webhook_url(url, PUBLIC)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/",  # 127.0.0.1 as one decimal number
        "https://0177.0.0.1/",  # octal
        "https://0x7f.0.0.1/",  # hexadecimal
        "https://0x7f000001/",
        "https://127.1/",  # short form
        "https://127.000.000.001/",  # zero-padded
        "https://1.2.3.4.5/",
    ],
)
def test_addresses_spelt_other_than_as_four_decimal_numbers_are_refused(url: str) -> None:
    # Refused by their form even where private addresses are allowed: no resolver reads them
    # differently from the check.
    problem = check_webhook_url(url, PRIVATE_OK)
    assert problem is not None
    assert "four plain decimal numbers" in problem


def test_address_literals_are_checked_before_anything_is_resolved() -> None:
    assert "loopback" in (check_webhook_url("https://127.0.0.1/", PUBLIC) or "")
    assert "loopback" in (check_webhook_url("https://[::1]:8443/", PUBLIC) or "")
    assert "loopback" in (check_webhook_url("https://[::ffff:127.0.0.1]/", PUBLIC) or "")
    assert "metadata" in (check_webhook_url("http://169.254.169.254/latest", PRIVATE_OK) or "")
    assert check_webhook_url("https://93.184.215.14/hook", PUBLIC) is None
    assert check_webhook_url("http://127.0.0.1:8080/hook", PRIVATE_OK) is None


def test_the_allow_list_takes_names_and_wildcards_whole() -> None:
    assert check_webhook_url("https://hooks.example.com/a?b=c", ALLOWED) is None
    assert check_webhook_url("https://HOOKS.Example.COM/a", ALLOWED) is None
    assert check_webhook_url("https://build.ci.example.org/", ALLOWED) is None
    assert check_webhook_url("https://a.b.ci.example.org/", ALLOWED) is None
    for refused in (
        "https://ci.example.org/",  # `*.` covers the names below, not the domain itself
        "https://hooks.example.com.evil.net/",
        "https://evilhooks.example.com/",
        "https://example.com/",
        "https://93.184.215.14/",
    ):
        problem = check_webhook_url(refused, ALLOWED)
        assert problem is not None and "allow-list" in problem, refused


def test_the_allow_list_setting_is_checked_at_start() -> None:
    settings = load_settings(
        {"FIXWRIGHT_WEBHOOK_ALLOWED_HOSTS": "Hooks.Example.com, *.ci.example.org,10.0.0.5"},
        None,
        for_github=False,
    )
    assert settings.webhook_allowed_hosts == ("hooks.example.com", "*.ci.example.org", "10.0.0.5")
    for bad in ("*.com", "https://hooks.example.com", "hooks.example.com/path"):
        with pytest.raises(ConfigError, match="FIXWRIGHT_WEBHOOK_ALLOWED_HOSTS"):
            load_settings({"FIXWRIGHT_WEBHOOK_ALLOWED_HOSTS": bad}, None, for_github=False)


def test_http_needs_the_operator_s_word() -> None:
    assert check_webhook_url("http://93.184.215.14/", PUBLIC) is not None
    assert (
        check_webhook_url("http://93.184.215.14/", replace(PUBLIC, webhook_allow_http=True)) is None
    )


def test_a_target_keeps_its_path_and_query_and_shows_only_its_origin() -> None:
    target = parse_target("https://hooks.example.com:8443/in/TOKEN?x=1", PUBLIC)
    assert target == Target("https", "hooks.example.com", 8443, "/in/TOKEN?x=1")
    assert target.origin() == "https://hooks.example.com:8443"
    assert parse_target("https://hooks.example.com", PUBLIC) == Target(
        "https", "hooks.example.com", 443, "/"
    )
    assert parse_target("HTTPS://Hooks.Example.com?x=1", PUBLIC) == Target(
        "https", "hooks.example.com", 443, "/?x=1"
    )


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    assert (
        check_webhook_url("http://localhost:9/", replace(PUBLIC, webhook_allow_http=True)) is None
    )
    refused = await pin_target("http://localhost:9/", replace(PUBLIC, webhook_allow_http=True))
    assert isinstance(refused, str)
    assert "localhost resolves to" in refused and "loopback" in refused


async def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    resolve = resolver("93.184.215.14", "10.0.0.7")
    refused = await pin_target("https://hooks.example.com/", ALLOWED, resolve)
    assert isinstance(refused, str) and "10.0.0.7 is private" in refused


async def test_the_checked_address_is_the_one_connected_to_with_the_name_kept() -> None:
    resolve = resolver("93.184.215.14", "2606:4700::1111")
    pinned = await pin_target("https://hooks.example.com/in?x=1", ALLOWED, resolve)
    assert isinstance(pinned, Pinned)
    assert pinned.request_url() == "https://93.184.215.14:443/in?x=1"
    assert pinned.target.host_header() == "hooks.example.com"
    assert pinned.request_extensions() == {"sni_hostname": "hooks.example.com"}
    assert resolve.calls == ["hooks.example.com"]  # type: ignore[attr-defined]
    six = await pin_target("https://hooks.example.com:8443/", ALLOWED, resolver("2606:4700::1111"))
    assert isinstance(six, Pinned)
    assert six.request_url() == "https://[2606:4700::1111]:8443/"
    assert six.target.host_header() == "hooks.example.com:8443"


async def test_each_check_resolves_afresh() -> None:
    # A name that answers a public address first and a loopback one next (DNS rebinding) is
    # refused on the check that sees the loopback one.
    answers = [["93.184.215.14"], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    assert isinstance(await pin_target("https://hooks.example.com/", ALLOWED, rebinding), Pinned)
    second = await pin_target("https://hooks.example.com/", ALLOWED, rebinding)
    assert isinstance(second, str) and "loopback" in second


async def test_a_name_with_no_address_is_worth_another_try() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Unresolved, match=r"hooks\.example\.com"):
        await pin_target("https://hooks.example.com/", ALLOWED, nowhere)
