"""Conformance: the official Python `infoblox-client`, unmodified, against wapi-sim.

run.sh starts the server and passes its address and CA through the environment. Each test
starts from a reset grid and drives the client's public API only (connector.Connector,
objects.*, object_manager.InfobloxObjectManager); the control API is used for setup and to
read the request log, never to stand in for a WAPI call the client should make.
"""

import os

import pytest
import requests
from infoblox_client import connector, exceptions, object_manager, objects

ADDR = os.environ["WAPI_SIM_ADDR"]
CA = os.environ["WAPI_SIM_CA"]
USER = os.environ.get("WAPI_SIM_USER", "admin")
PASSWORD = os.environ.get("WAPI_SIM_PASSWORD", "infoblox")
NV = "conformance"
CIDR = "10.20.0.0/24"


def control(method, path, body=None):
    resp = requests.request(method, f"https://{ADDR}/_sim/{path}", json=body, verify=CA, timeout=10)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def make_connector(**extra):
    opts = {
        "host": ADDR,
        "username": USER,
        "password": PASSWORD,
        "ssl_verify": CA,
        "wapi_version": "2.12",
        "http_request_timeout": 10,
    }
    opts.update(extra)
    return connector.Connector(opts)


@pytest.fixture(autouse=True)
def fresh_grid():
    control("POST", "reset")
    yield


@pytest.fixture
def conn():
    return make_connector()


@pytest.fixture
def network(conn):
    """A network view and a leaf network made through the client itself."""
    objects.NetworkView.create(conn, name=NV)
    return objects.Network.create(conn, network_view=NV, cidr=CIDR)


def next_ip(cidr=CIDR, nv=NV):
    return objects.IPAllocation.next_available_ip_from_cidr(nv, cidr)


def create_host(conn, name, mac="aa:bb:cc:00:00:01", cidr=CIDR, **kw):
    ip = objects.IP.create(ip=next_ip(cidr), mac=mac)
    kw.setdefault("configure_for_dns", False)
    kw.setdefault("network_view", NV)
    return objects.HostRecord.create(conn, name=name, ip=ip, **kw)


def wapi_log():
    return [e for e in control("GET", "requests") if e.get("version")]


def test_network_view_create_search_delete(conn):
    nv = objects.NetworkView.create(conn, name=NV)
    assert nv.ref.startswith("networkview/")
    assert nv.ref.endswith(f":{NV}/false")
    assert nv.is_default is False

    found = objects.NetworkView.search(conn, name=NV)
    assert found.ref == nv.ref
    default = objects.NetworkView.search(conn, name="default")
    assert default.is_default is True

    # Creating a network view creates its DNS view.
    assert objects.DNSView.search(conn, name=f"default.{NV}") is not None

    # create() searches first and adopts what exists instead of posting again.
    again = objects.NetworkView.create(conn, name=NV)
    assert again.ref == nv.ref

    nv.delete()
    assert objects.NetworkView.search(conn, name=NV) is None
    assert objects.DNSView.search(conn, name=f"default.{NV}") is None


def test_network_create_search_delete(conn):
    objects.NetworkView.create(conn, name=NV)
    net = objects.Network.create(conn, network_view=NV, cidr=CIDR)
    assert net.ref.endswith(f":{CIDR}/{NV}")
    assert net.network == CIDR
    assert net.network_view == NV

    found = objects.Network.search(conn, network_view=NV, cidr=CIDR)
    assert found is not None and found.ref == net.ref
    assert objects.Network.search(conn, network_view=NV, cidr="10.99.0.0/24") is None

    # The object manager's path adds "options": [] and skips the existence check.
    mgr = object_manager.InfobloxObjectManager(conn)
    other = mgr.create_network(NV, "10.21.0.0/24")
    assert mgr.get_network(NV, "10.21.0.0/24").ref == other.ref
    mgr.delete_network(NV, "10.21.0.0/24")
    assert mgr.get_network(NV, "10.21.0.0/24") is None

    net.delete()
    assert objects.Network.search(conn, network_view=NV, cidr=CIDR) is None


def test_host_record_with_next_available_ip(conn, network):
    first = create_host(conn, "host-a")
    second = create_host(conn, "host-b", mac="aa:bb:cc:00:00:02")
    assert [ip.ip for ip in first.ip] == ["10.20.0.1"]
    assert [ip.ip for ip in second.ip] == ["10.20.0.2"]
    assert first.ref.startswith("record:host/")
    assert first.ref.endswith("/%20")  # a non-DNS host

    by_name = objects.HostRecord.search(conn, name="host-a", network_view=NV)
    assert by_name.ref == first.ref
    by_ip = objects.HostRecord.search(conn, ip="10.20.0.2")
    assert by_ip.ref == second.ref
    assert by_ip.ip[0].mac == "aa:bb:cc:00:00:02"

    # The ref ends in /%20 and goes out as /%2520; the server must find it anyway.
    first.delete()
    assert objects.HostRecord.search(conn, name="host-a", network_view=NV) is None
    deletes = [e for e in wapi_log() if e["method"] == "DELETE"]
    assert deletes and deletes[-1]["status"] == 200

    # The freed address is handed out again, lowest first.
    third = create_host(conn, "host-c", mac="aa:bb:cc:00:00:03")
    assert third.ip[0].ip == "10.20.0.1"


def test_existence_search_with_a_function_address_is_empty(conn, network):
    create_host(conn, "host-a")
    searches = [e for e in wapi_log() if e["method"] == "GET" and e["object"] == "record:host"]
    assert searches, "create() should search before posting"
    assert ("ipv4addr", f"func:nextavailableip:{CIDR},{NV}") in [tuple(q) for q in searches[0]["query"]]
    assert searches[0]["status"] == 200


def test_dns_host_record_duplicates_and_parent_zone(conn, network):
    objects.DNSZone.create(conn, fqdn="example.test", view=f"default.{NV}")
    ip = objects.IP.create(ip=next_ip(), mac="aa:bb:cc:00:00:09")
    host = objects.HostRecord.create(conn, name="web.example.test", view=f"default.{NV}", ip=ip)
    assert host.ref.endswith(f":web.example.test/default.{NV}")
    assert host.view == f"default.{NV}"

    with pytest.raises(exceptions.InfobloxCannotCreateObject) as dup:
        objects.HostRecord.create(
            conn,
            name="web.example.test",
            view=f"default.{NV}",
            ip=objects.IP.create(ip=next_ip(), mac="aa:bb:cc:00:00:0a"),
            check_if_exists=False,
        )
    assert dup.value.response["code"] == "Client.Ibap.Data.Conflict"
    assert dup.value.response["text"] == "The record 'web.example.test' already exists."

    with pytest.raises(exceptions.InfobloxCannotCreateObject) as orphan:
        objects.HostRecord.create(
            conn,
            name="web.elsewhere.test",
            view=f"default.{NV}",
            ip=objects.IP.create(ip=next_ip(), mac="aa:bb:cc:00:00:0b"),
            check_if_exists=False,
        )
    assert "A parent was not found." in orphan.value.response["text"]


def test_network_full(conn):
    objects.NetworkView.create(conn, name=NV)
    objects.Network.create(conn, network_view=NV, cidr="10.30.0.0/30")
    create_host(conn, "h1", cidr="10.30.0.0/30")
    create_host(conn, "h2", cidr="10.30.0.0/30", mac="aa:bb:cc:00:00:02")
    with pytest.raises(exceptions.InfobloxCannotCreateObject) as full:
        create_host(conn, "h3", cidr="10.30.0.0/30", mac="aa:bb:cc:00:00:03")
    assert full.value.response["text"] == "Cannot find 1 available IP address(es) in this network."
    assert full.value.response["code"] == "Client.Ibap.Data"


def test_paging_and_max_results(conn, network):
    for i in range(5):
        create_host(conn, f"page-{i}", mac=f"aa:bb:cc:00:01:0{i}")
    names = [f"page-{i}" for i in range(5)]

    control("DELETE", "requests")
    hosts = objects.HostRecord.search_all(conn, network_view=NV, paging=True, max_results=2)
    assert [h.name for h in hosts] == names
    gets = [e for e in wapi_log() if e["method"] == "GET"]
    # The client resends the whole query plus _page_id until a page lacks next_page_id.
    assert len(gets) == 3
    assert all(("_paging", "1") in [tuple(q) for q in g["query"]] for g in gets)
    assert sum(1 for g in gets if any(k == "_page_id" for k, _ in g["query"])) == 2

    # Without paging a positive _max_results truncates ...
    assert len(objects.HostRecord.search_all(conn, network_view=NV, max_results=2)) == 2
    # ... and a negative one refuses a larger result.
    with pytest.raises(exceptions.InfobloxConnectionError):
        objects.HostRecord.search_all(conn, network_view=NV, max_results=-2)
    refused = [e for e in wapi_log() if e["status"] == 400]
    assert refused, "a result larger than |_max_results| should be refused with 400"


def test_function_call_does_not_reserve(conn, network):
    create_host(conn, "taken")
    first = network._call_func("next_available_ip", {"num": 3})
    assert first == {"ips": ["10.20.0.2", "10.20.0.3", "10.20.0.4"]}
    assert network._call_func("next_available_ip", {"num": 3}) == first


def test_cookie_is_reused_and_reauthenticates_after_expiry(conn, network):
    control("DELETE", "requests")
    for _ in range(3):
        assert objects.Network.search(conn, network_view=NV, cidr=CIDR) is not None
    assert [e["auth"] for e in wapi_log()] == ["cookie", "cookie", "cookie"]

    control("POST", "sessions/expire")
    control("DELETE", "requests")
    assert objects.Network.search(conn, network_view=NV, cidr=CIDR) is not None
    # 401 on the stale cookie, then the client drops it and sends Basic again.
    assert [e["auth"] for e in wapi_log()] == ["denied", "basic"]


def test_fixed_address_from_cidr(conn, network):
    mgr = object_manager.InfobloxObjectManager(conn)
    fa = mgr.create_fixed_address_from_cidr(NV, "aa:bb:cc:00:00:42", CIDR, None)
    assert fa.ip == "10.20.0.1"
    assert fa.mac == "aa:bb:cc:00:00:42"
    host = create_host(conn, "after-fixed")
    assert host.ip[0].ip == "10.20.0.2"
    mgr.delete_fixed_address(NV, "10.20.0.1")
    assert objects.FixedAddress.search(conn, network_view=NV, ip="10.20.0.1") is None


def test_extensible_attributes(conn, network):
    objects.EADefinition.create(conn, name="Owner", type="STRING")
    create_host(conn, "owned", extattrs=objects.EA({"Owner": "team-a"}))
    create_host(conn, "other", mac="aa:bb:cc:00:00:02", extattrs=objects.EA({"Owner": "team-b"}))
    found = objects.HostRecord.search_all(conn, search_extattrs=objects.EA({"Owner": "team-a"}))
    assert [h.name for h in found] == ["owned"]
    assert found[0].extattrs.get("Owner") == "team-a"

    with pytest.raises(exceptions.InfobloxCannotCreateObject) as unknown:
        create_host(conn, "bad", mac="aa:bb:cc:00:00:03", extattrs=objects.EA({"Nope": "x"}))
    assert unknown.value.response["text"] == "Unknown extensible attribute: Nope"


def test_update_appends_a_next_available_address(conn, network):
    objects.Network.create(conn, network_view=NV, cidr="10.21.0.0/24")
    host = create_host(conn, "multi")
    host.ip.append(objects.IP.create(ip=next_ip("10.21.0.0/24"), mac="aa:bb:cc:00:00:01"))
    updated = host.update()
    assert sorted(ip.ip for ip in updated.ip) == ["10.20.0.1", "10.21.0.1"]
    again = objects.HostRecord.search(conn, name="multi", network_view=NV)
    assert sorted(ip.ip for ip in again.ip) == ["10.20.0.1", "10.21.0.1"]
