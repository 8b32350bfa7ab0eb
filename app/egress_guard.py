"""Where an outgoing webhook may go: the URL's form and host checked without I/O, then every
address its name resolves to, and the one address connected to pinned.

A task names its own webhook URL, so the URL is hostile: it could point the service at itself, at
another service on its network, or at a cloud metadata endpoint (server-side request forgery).
So a target must be http(s) (https unless the operator allows http), carry no user info, name a
host on the operator's allow-list (`FIXWRIGHT_WEBHOOK_ALLOWED_HOSTS`, the patterns of
`sandbox.egress`; empty: any host), be spelt the one way every parser reads alike (no decimal,
octal or hexadecimal address, no backslash, no space), and resolve only to public addresses
unless `FIXWRIGHT_WEBHOOK_ALLOW_PRIVATE` is set. Metadata addresses are refused even then.

The check and the connection use the same address: the name is resolved once per attempt, every
address it gave is checked, and the request goes to the first of them with the name in `Host`
and in TLS's server name, so a second lookup (DNS rebinding) cannot send it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.egress import HOST, covers

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The name's addresses, in the order to try them; raises OSError when it has none.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2000
# Printable ASCII without the space: anything else is read differently by different parsers.
URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")
# A last label a browser or libc would read as (part of) an IPv4 address: digits, or hex.
NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)")
DEFAULT_PORTS = {"http": 80, "https": 443}
# The authority ends at the path, the query or the fragment.
AUTHORITY_END = re.compile(r"[/?#]")
# A bracketed IPv6 address or a name (checked further by `host_problem`), then maybe a port.
AUTHORITY = re.compile(r"(?:\[(?P<v6>[^\[\]]*)\]|(?P<name>[^:\[\]]*))(?::(?P<port>[^:]*))?")
PORT = re.compile(r"[0-9]{1,5}")

# Cloud providers' instance metadata services: refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's host agent (a public address)
    )
)
# Private networks (RFC 1918, and IPv6's unique local addresses).
PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
SHARED = ipaddress.ip_network("100.64.0.0/10")
# Special-purpose blocks the standard library of some Python versions counts as global.
NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in ("192.0.0.0/24", "64:ff9b:1::/48"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class GuardSettings(Protocol):
    """The settings the guard reads (`app.config.Settings` has them)."""

    @property
    def webhook_allowed_hosts(self) -> tuple[str, ...]: ...

    @property
    def webhook_allow_private(self) -> bool: ...

    @property
    def webhook_allow_http(self) -> bool: ...


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart, checked: `host` lower-case (an IPv6 address without brackets),
    `path` the path and query as given ("/" when empty)."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def literal(self) -> IPAddress | None:
        """The host when the URL names an address rather than a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    def host_header(self) -> str:
        """`Host` as the URL names it (the port left out when it is the scheme's own)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def origin(self) -> str:
        """Scheme, host and port only: what logs and the deliveries list show (a URL's path and
        query often carry a credential of the receiver's)."""
        return f"{self.scheme}://{self.host_header()}"


@dataclass(frozen=True)
class Pinned:
    """A target with the address that was checked, which the request must go to."""

    target: Target
    address: IPAddress

    def request_url(self) -> str:
        """The URL to send to: the checked address in place of the name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.target.scheme}://{host}:{self.target.port}{self.target.path}"

    def request_extensions(self) -> dict[str, Any]:
        """TLS checks the certificate against the name, not the address (httpcore's `sni_hostname`)."""
        if self.target.scheme == "https" and self.target.literal is None:
            return {"sni_hostname": self.target.host}
        return {}


class Unresolved(Exception):
    """The name has no address now (a lookup failed): worth trying again later."""


def parse_target(url: str, settings: GuardSettings) -> Target | str:
    """The URL taken apart when its form, scheme and host are acceptable; else the problem in words."""
    if not isinstance(url, str) or not url:
        return "is not a URL"
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if not URL_CHARACTERS.fullmatch(url) or "\\" in url:
        return "may hold only printable ASCII characters, with no space or backslash"
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if not separator or scheme not in schemes:
        return "must be an https URL" + (" (or http)" if settings.webhook_allow_http else "")
    if "#" in url:
        return "must not have a fragment (`#...`)"
    # Taken apart here, strictly, rather than by a library whose reading of odd forms
    # (`[::1]x`, `a:`, a second `@`) another parser might not share.
    authority = AUTHORITY_END.split(rest, maxsplit=1)[0]
    path = rest[len(authority) :]
    if "@" in authority:
        return "must not carry a user name or password (`user@`)"
    parts = AUTHORITY.fullmatch(authority)
    if parts is None:
        return "has a host and port that cannot be read"
    bracketed = parts["v6"] is not None
    host = (parts["v6"] if bracketed else parts["name"]).lower()
    problem = host_problem(host, bracketed=bracketed)
    if problem:
        return problem
    port_text = parts["port"]
    if port_text is not None and not PORT.fullmatch(port_text):
        return "has a port that is not a number from 1 to 65535"
    port = DEFAULT_PORTS[scheme] if port_text is None else int(port_text)
    if not 0 < port < 65536:
        return "has a port that is not a number from 1 to 65535"
    allowed = settings.webhook_allowed_hosts
    if allowed and not any(covers(pattern, host) for pattern in allowed):
        return f"names the host {host}, which is not on the operator's webhook allow-list"
    return Target(scheme, host, port, path if path.startswith("/") else "/" + path)


def host_problem(host: str, *, bracketed: bool) -> str | None:
    """Why `host` is not a plain host name, dotted IPv4 address or bracketed IPv6 address."""
    if not host:
        return "has no host"
    if "%" in host:
        return "has a host with `%` in it (no zone id or escaped character is taken)"
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has a bracketed host that is not a plain IPv6 address"
        return None
    labels = host.split(".")
    if NUMERIC_LABEL.fullmatch(labels[-1]):
        # Parsers read `2130706433`, `0177.0.0.1` and `0x7f.1` as 127.0.0.1; only one spelling
        # is taken, so the address checked is the one every resolver would connect to.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "names an IPv4 address in a form other than four plain decimal numbers"
        return None
    if len(host) > 253 or not HOST.fullmatch(host):
        return "has a host that is not a host name (letters, digits, `-` and `.`; IDNs as xn--)"
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and may deliver to (mapped, 6to4, NAT64, Teredo)."""
    if address.version == 4:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_class(address: IPAddress) -> str | None:
    """The kind of non-public address this is, in words, or None for a public one."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in net for net in PRIVATE):
        return "private"
    if address in SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_reserved or not address.is_global or any(address in n for n in NOT_PUBLIC):
        return "reserved (not public)"
    return None


def address_problem(address: IPAddress, allow_private: bool) -> str | None:
    """Why the webhook may not be sent to `address`, or None."""
    inner = embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner, allow_private)
        return f"{problem} (inside the IPv6 address {address})" if problem else None
    kind = address_class(address)
    if kind is None or (allow_private and address not in METADATA_ADDRESSES):
        return None
    return f"{address} is {kind}" + (
        "" if address in METADATA_ADDRESSES else "; the operator allows only public addresses"
    )


def check_webhook_url(url: str, settings: GuardSettings) -> str | None:
    """What is wrong with a webhook URL before anything is resolved (the problem, or None): the
    check a task's creation makes. The names it resolves to are checked at each attempt."""
    target = parse_target(url, settings)
    if isinstance(target, str):
        return target
    literal = target.literal
    return None if literal is None else address_problem(literal, settings.webhook_allow_private)


async def system_resolve(host: str, port: int) -> list[str]:
    """The name's addresses from the system's resolver (raises OSError when it has none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def pin_target(
    url: str, settings: GuardSettings, resolve: Resolver = system_resolve
) -> Pinned | str:
    """The target with the address to connect to, when the URL and every address its name
    resolves to now pass; else the problem in words. Raises `Unresolved` when the name has no
    address now (the lookup may succeed later)."""
    target = parse_target(url, settings)
    if isinstance(target, str):
        return target
    literal = target.literal
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            found = await resolve(target.host, target.port)
        except OSError as error:
            raise Unresolved(f"{target.host} could not be resolved ({error})") from None
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                return f"{target.host} resolved to something that is not an address"
        if not addresses:
            raise Unresolved(f"{target.host} has no address")
    for address in addresses:
        problem = address_problem(address, settings.webhook_allow_private)
        if problem:
            named = "" if literal is not None else f"{target.host} resolves to "
            return f"{named}{problem}"
    return Pinned(target, addresses[0])
