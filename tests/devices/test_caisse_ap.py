"""Caisse-AP over IP: the message format, how answers are judged, and every outcome
through real sockets against the terminal simulator running in another process."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pos_returns.config import ConfigError, TillConfig, parse_config
from pos_returns.devices.caisse_ap import (
    CaisseAPClient,
    MalformedMessage,
    build_request,
    encode_message,
    is_complete,
    judge_answer,
    parse_message,
    terminal_from_config,
)
from pos_returns.devices.terminal import Action, Outcome
from pos_returns.devices.tpe_simulator import Step, TerminalSimulator, load_script, parse_script
from pos_returns.errors import InvalidInput
from tests.helpers import LOOPBACK
from tests.helpers import tpe_simulator as simulator

# -- encoding -------------------------------------------------------------------------------

def test_a_refund_request_is_the_documented_bytes():
    request = build_request(action=Action.CREDIT, amount_cents=4940, till_no=3)
    assert encode_message(request) == (
        b"CZ0040300CJ012012345678901CA00203CE003978CD0011CB0044940")


def test_a_payment_request_says_debit_and_small_amounts_have_two_digits():
    request = build_request(action=Action.DEBIT, amount_cents=5, till_no=12)
    assert (request["CD"], request["CB"], request["CA"]) == ("0", "05", "12")
    assert encode_message(request).startswith(b"CZ0040300")


def test_cz_always_comes_first():
    assert encode_message([("CA", "01"), ("CZ", "0301")]) == b"CZ0040301CA00201"
    assert encode_message({"CA": "01"}) == b"CZ0040300CA00201"


@pytest.mark.parametrize("amount", [0, -100, 10**12, True, 12.5])
def test_an_absurd_amount_is_refused_before_anything_is_sent(amount):
    with pytest.raises(InvalidInput) as err:
        CaisseAPClient(LOOPBACK, 9).refund(amount, reference="T1")
    assert "montant" in str(err.value)


def test_encoding_refuses_values_the_protocol_cannot_carry():
    for fields in ({"CA": ""}, {"CA": "x" * 1000}, {"C": "1"}, {"CA": "é"}):
        with pytest.raises(MalformedMessage):
            encode_message(fields)


# -- parsing --------------------------------------------------------------------------------

def test_an_answer_is_parsed_into_its_fields():
    assert parse_message(b"CZ0040300AE00210CB00205CD0010CE003978CA00201") == {
        "CZ": "0300", "AE": "10", "CB": "05", "CD": "0", "CE": "978", "CA": "01"}


@pytest.mark.parametrize("data", [
    b"",  # nothing
    b"AE00",  # the length is cut
    b"AE00510",  # the value is shorter than its length
    b"CZ00X0300",  # the length is not a number
    b"ae00210",  # not a tag
    b"AE00210AE00201",  # a tag twice: which one to believe?
    "AE002é1".encode(),  # not ASCII
    b"AE002" + b"1" * 9000,  # absurdly long
])
def test_a_malformed_answer_is_refused(data):
    with pytest.raises(MalformedMessage):
        parse_message(data)


def test_completeness_is_whole_fields_only():
    assert is_complete(b"CZ0040300AE00210")
    assert not is_complete(b"CZ0040300AE002")
    assert not is_complete(b"CZ0040300AE0")
    assert not is_complete(b"")
    assert is_complete(b"\x00garbage")  # cannot become whole: stop reading


# -- judging an answer ----------------------------------------------------------------------

REQUEST = build_request(action=Action.CREDIT, amount_cents=4940, till_no=1)


def judge(answer: dict[str, str]):
    return judge_answer(REQUEST, answer, action=Action.CREDIT, amount_cents=4940,
                        reference="R-1")


def success(**over: str) -> dict[str, str]:
    answer = {"CZ": "0300", "AE": "10", "CA": "01", "CB": "000000004940", "CD": "1",
              "CE": "978", "CC": "001", "CI": "1", "AA": "123456", "AB": "000042",
              "AI": "A0000000421010"}
    answer.update(over)
    return {k: v for k, v in answer.items() if v}


def test_a_success_that_echoes_the_request_is_approved_with_its_identifiers():
    result = judge(success())
    assert result.outcome is Outcome.APPROVED
    assert result.card_application_label == "CB contact"
    assert result.read_mode_label == "puce"
    assert result.card_read  # R14: the terminal read the card
    assert result.transaction_ids == {"AA": "123456", "AB": "000042", "AI": "A0000000421010"}
    assert result.transaction_id == "AA-123456|AB-000042|AI-A0000000421010"
    assert result.raw["CB"] == "000000004940"
    assert "49,40" in result.summary() and "remboursé" in result.summary()


def test_R14_a_manually_keyed_card_is_not_a_card_read():
    assert not judge(success(CI="4")).card_read
    assert judge(success(CC="00B", CI="2")).card_application_label == "CB sans contact"


@pytest.mark.parametrize(("over", "tag"), [
    ({"CB": "000000004941"}, "CB"),  # another amount: money moved, how much?
    ({"CB": ""}, "CB"),
    ({"CA": "02"}, "CA"),
    ({"CD": "0"}, "CD"),  # a debit instead of a credit
    ({"CE": "840"}, "CE"),
    ({"CB": "49X0"}, "CB"),
])
def test_a_success_whose_echo_differs_is_to_be_checked_never_approved(over, tag):
    result = judge(success(**over))
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason_code == "echo_mismatch"
    assert tag in result.message and "à vérifier" in result.message
    assert not result.transaction_ids


def test_a_failure_is_declined_with_the_terminals_reason_in_french():
    result = judge({"CZ": "0300", "AE": "01", "AF": "04"})
    assert result.outcome is Outcome.DECLINED and result.reason_code == "04"
    assert result.message == "Le TPE a refusé l’opération\u00a0: refusée."
    assert "code 77" in judge({"AE": "01", "AF": "77"}).message
    assert judge({"AE": "01"}).reason_code == "00"


def test_a_failure_about_another_request_is_to_be_checked():
    result = judge({"AE": "01", "AF": "04", "CB": "9999"})
    assert result.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize("status", ["", "00", "11", "1"])
def test_an_unknown_status_is_to_be_checked(status):
    result = judge(success(AE=status))
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "status"


# -- every outcome through real sockets, the simulator in another process ------------------

def test_approved_refund_and_payment_through_the_simulator(tmp_path):
    with simulator(tmp_path, [{"outcome": "approve", "card": "001", "read_mode": "1"}]) as sim:
        refund = sim.client().refund(4940, reference="T-1")
        pay = sim.client().pay(1250, reference="T-2")
    assert refund.approved and refund.action is Action.CREDIT
    assert refund.card_application_label == "CB contact" and refund.card_read
    assert set(refund.transaction_ids) == {"AA", "AB", "AC"}
    assert pay.approved and pay.raw["CD"] == "0" and pay.raw["CB"].lstrip("0") == "1250"
    assert refund.transaction_ids["AA"] != pay.transaction_ids["AA"]
    assert "Demande reçue : remboursement de 49,40" in sim.log
    assert "paiement de 12,50" in sim.log and "caisse 03" in sim.log


@pytest.mark.parametrize(("step", "code", "reason"), [
    ({"outcome": "decline", "af": "05"}, "05", "interdite"),
    ({"outcome": "decline"}, "04", "refusée"),
    ({"outcome": "abort"}, "06", "abandon"),
    ({"outcome": "decline", "af": "08"}, "08", "délai de saisie dépassé"),
])
def test_R03_a_decline_shows_the_reason_and_a_retry_is_safe(tmp_path, step, code, reason):
    with simulator(tmp_path, [step]) as sim:
        first = sim.client().refund(4940, reference="T-1")
        again = sim.client().refund(4940, reference="T-1")  # another card presented
    assert first.outcome is Outcome.DECLINED and first.reason_code == code
    assert reason in first.message
    assert again.approved
    assert f"motif AF {code}" in sim.log


def test_no_answer_within_the_timeout_is_to_be_checked(tmp_path):
    with simulator(tmp_path, [{"outcome": "hang"}]) as sim:
        t0 = time.monotonic()
        result = sim.client(timeout_seconds=0.5).refund(4940, reference="T-1")
        elapsed = time.monotonic() - t0
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "timeout"
    assert "à vérifier" in result.message and "0.5 s" in result.message
    assert elapsed < 5  # bounded by the timeout, not by the terminal
    assert "jusqu’à ce que la caisse abandonne" in sim.log


def test_a_connection_dropped_after_sending_is_to_be_checked(tmp_path):
    with simulator(tmp_path, [{"outcome": "disconnect"}]) as sim:
        result = sim.client().refund(4940, reference="T-1")
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "disconnected"
    assert "sans répondre" in sim.log


def test_a_wrong_echoed_amount_is_to_be_checked(tmp_path):
    with simulator(tmp_path, [{"outcome": "wrong_amount", "amount": 494}]) as sim:
        result = sim.client().refund(4940, reference="T-1")
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "echo_mismatch"
    assert "4940" in result.message and "494" in result.message


def test_an_unreadable_answer_is_to_be_checked(tmp_path):
    with simulator(tmp_path, [{"outcome": "garbage"}]) as sim:
        result = sim.client().refund(4940, reference="T-1")
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "malformed"


def test_a_delayed_answer_within_the_timeout_is_approved(tmp_path):
    with simulator(tmp_path, delay=0.3) as sim:
        t0 = time.monotonic()
        result = sim.client(timeout_seconds=5).refund(4940, reference="T-1")
    assert result.approved and time.monotonic() - t0 >= 0.3


def test_a_terminal_that_cannot_be_reached_is_declined_nothing_sent():
    probe = socket.socket()
    probe.bind((LOOPBACK, 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    result = CaisseAPClient(LOOPBACK, port, timeout_seconds=2).refund(4940, reference="T-1")
    assert result.outcome is Outcome.DECLINED and result.reason_code == "unreachable"
    assert f"127.0.0.1:{port}" in result.message and "Rien n’a été envoyé" in result.message


def test_the_simulator_refuses_another_currency_as_a_terminal_would(tmp_path):
    request = dict(REQUEST, CE="840")
    with simulator(tmp_path) as sim, socket.create_connection((LOOPBACK, sim.port), 5) as s:
        s.settimeout(5)
        s.sendall(encode_message(request))
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    answer = parse_message(data)
    assert (answer["AE"], answer["AF"]) == ("01", "13")


# -- answers in pieces, terminals that keep the connection open ----------------------------

@contextmanager
def raw_terminal(pieces: list[bytes], *, pause: float = 0.05, close: bool = True):
    """A one-shot terminal on a real socket: sends the answer in pieces."""
    server = socket.create_server((LOOPBACK, 0))
    server.settimeout(5)
    received: list[bytes] = []

    def run() -> None:
        conn, _peer = server.accept()
        with conn:
            conn.settimeout(5)
            received.append(conn.recv(4096))
            for piece in pieces:
                conn.sendall(piece)
                time.sleep(pause)
            if not close:
                conn.recv(16)  # until the till closes
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        thread.join(timeout=10)
        server.close()


def test_an_answer_split_inside_a_field_is_reassembled():
    answer = encode_message(success())
    with raw_terminal([answer[:7], answer[7:20], answer[20:]]) as (port, received):
        result = CaisseAPClient(LOOPBACK, port, timeout_seconds=5).refund(4940, reference="T")
    assert result.approved and received[0].startswith(b"CZ0040300")


def test_an_answer_split_between_fields_is_not_cut_short():
    answer = encode_message(success())
    cut = answer.index(b"AA")  # whole before the identifiers: wait for the rest
    with raw_terminal([answer[:cut], answer[cut:]]) as (port, _received):
        result = CaisseAPClient(LOOPBACK, port, timeout_seconds=5,
                                drain_seconds=0.5).refund(4940, reference="T")
    assert result.approved and result.transaction_ids["AA"] == "123456"


def test_a_terminal_that_keeps_the_connection_open_is_understood():
    with raw_terminal([encode_message(success())], close=False) as (port, _received):
        t0 = time.monotonic()
        result = CaisseAPClient(LOOPBACK, port, timeout_seconds=5,
                                drain_seconds=0.1).refund(4940, reference="T")
    assert result.approved and time.monotonic() - t0 < 3


def test_an_answer_cut_short_by_the_terminal_closing_is_to_be_checked():
    answer = encode_message(success())
    with raw_terminal([answer[:-3]]) as (port, _received):
        result = CaisseAPClient(LOOPBACK, port, timeout_seconds=5).refund(4940, reference="T")
    assert result.outcome is Outcome.UNKNOWN and result.reason_code == "malformed"


# -- the simulator's script and the configuration -------------------------------------------

def test_simulator_scripts_in_json_and_toml(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[[step]]\noutcome = "decline"\naf = "05"\n\n[[step]]\noutcome = "hang"\n',
                    encoding="utf-8")
    assert [s.outcome for s in load_script(toml)] == ["decline", "hang"]
    assert parse_script({"steps": ["abort", {"outcome": "approve", "delay": 1}]}) == [
        Step("abort"), Step("approve", delay=1)]
    for bad in ([{"outcome": "explode"}], [{"outcome": "decline", "af": "4"}], [{"x": 1}], 3):
        with pytest.raises(InvalidInput):
            parse_script(bad)


def test_the_in_process_simulator_answers_in_order():
    with TerminalSimulator(script=[Step("decline", af="05")], log=lambda _m: None) as sim:
        client = CaisseAPClient(LOOPBACK, sim.port, timeout_seconds=5)
        assert client.refund(100, reference="A").reason_code == "05"
        assert client.refund(100, reference="B").approved
    assert [r["CB"] for r in sim.requests] == ["100", "100"]


def test_the_terminal_comes_from_the_configuration():
    assert terminal_from_config(TillConfig()) is None  # the demo's default: no terminal
    cfg = parse_config({"terminal_host": "192.168.1.50", "terminal_port": 8889,
                        "terminal_timeout_seconds": 60, "till_no": 4})
    client = terminal_from_config(cfg)
    assert client is not None
    assert (client.address, client.timeout_seconds, client.till_no) == (
        "192.168.1.50:8889", 60.0, 4)


@pytest.mark.parametrize(("data", "key"), [
    ({"terminal_port": 0}, "terminal_port"),
    ({"terminal_port": 70000}, "terminal_port"),
    ({"terminal_port": "8888"}, "terminal_port"),
    ({"terminal_timeout_seconds": 1}, "terminal_timeout_seconds"),
    ({"terminal_timeout_seconds": 3600}, "terminal_timeout_seconds"),
    ({"terminal_host": 12}, "terminal_host"),
    ({"terminal_host": "192.168.1.50 "}, "terminal_host"),
])
def test_a_bad_terminal_setting_names_its_key(data, key):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert f"« {key} »" in str(err.value) or key in str(err.value)


def test_the_pos_returns_tpe_simulator_command_serves_a_script(tmp_path):
    """``pos-returns tpe-simulator --port … --script FILE`` (the CLI command)."""
    script = tmp_path / "script.toml"
    script.write_text('[[step]]\noutcome = "decline"\naf = "04"\n', encoding="utf-8")
    ready = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_returns.cli", "tpe-simulator", "--host", LOOPBACK,
         "--port", "0", "--script", str(script), "--ready-file", str(ready)],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        client = CaisseAPClient(LOOPBACK, int(ready.read_text()), timeout_seconds=5)
        declined = client.refund(4940, reference="T-1")
        approved = client.refund(4940, reference="T-2")
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=10)
    assert declined.reason_code == "04" and approved.approved
    assert "Simulateur de TPE à l’écoute" in out and "Simulateur de TPE arrêté" in out


def test_the_simulator_command_says_why_it_cannot_start(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"outcome": "explode"}]', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pos_returns.cli", "tpe-simulator", "--port", "0",
         "--script", str(bad)], cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "explode" in proc.stderr and "Traceback" not in proc.stderr


def test_a_simulator_with_a_lifetime_stops_by_itself():
    sim = TerminalSimulator(lifetime=0.3, log=lambda _m: None).start()
    sim._thread.join(timeout=5)
    assert not sim._thread.is_alive()
    sim.stop()


def test_the_simulator_command_listens_on_the_tills_terminal_port_by_default(tmp_path):
    probe = socket.socket()
    probe.bind((LOOPBACK, 0))
    port = probe.getsockname()[1]
    probe.close()
    config = tmp_path / "till.toml"
    config.write_text(f'terminal_host = "127.0.0.1"\nterminal_port = {port}\n',
                      encoding="utf-8")
    ready = tmp_path / "port"
    proc = subprocess.run(
        [sys.executable, "-m", "pos_returns.cli", "tpe-simulator", "--config", str(config),
         "--lifetime", "0.2", "--ready-file", str(ready)],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert int(ready.read_text()) == port and f"127.0.0.1:{port}" in proc.stdout
