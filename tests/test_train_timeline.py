"""wafersim.train.timeline: the serial and overlapped schedules of a step's launches and MemoryX
transfers, weight streaming's bytes in LaunchStats, and the Perfetto trace's streaming tracks."""
from __future__ import annotations

import json

import pytest

from wafersim import train
from wafersim.train.timeline import LAUNCH, Event, schedule


def test_schedule_overlaps_the_next_layers_weights_with_compute():
    events = [Event("weight_bytes", "w1", 2, 1), Event(LAUNCH, "f1", 3, 1),
              Event("weight_bytes", "w2", 2, 2), Event(LAUNCH, "f2", 3, 2),
              Event("weight_bytes", "w3", 4, 3), Event(LAUNCH, "f3", 1, 3),
              Event(LAUNCH, "f4", 1, 4), Event("gradient_bytes", "g4", 2, 4)]
    assert schedule(events, overlap=False) == [0, 2, 5, 7, 10, 14, 15, 16]
    # w2 streams while f1 runs; w3 waits for pass 1 to free its buffer (t = 5), and f3 for w3 (t = 9);
    # the gradient leaves when f4 ends.
    assert schedule(events, overlap=True) == [0, 2, 2, 5, 5, 9, 10, 11]


def test_overlapped_step_is_shorter_and_streaming_shows_in_launch_stats_and_trace(tmp_path):
    model = train.Model.mlp([6, 8, 3])
    slow = train.MemoryXSpec(bandwidth_bytes_per_s=2e7, latency_s=1e-7)   # streaming about as long as compute
    x, labels = train.synthetic_classification(8, 6, 3)
    trainer = train.Trainer(model, train.SGD(lr=0.1), batch_size=8, memoryx_spec=slow)
    first = len(trainer.device.launches)
    report = trainer.step(x, labels)
    launches = trainer.device.launches[first:]
    wafer_s = report.compute_s + report.wafer_traffic_s
    streamed_in = sum(s.seconds for s in trainer.timeline.slices if s.track.startswith("MemoryX"))
    assert max(wafer_s, streamed_in) <= report.overlapped_s < report.total_s
    # LaunchStats carry the bytes: each launch the weights streamed before it, the gradients after it.
    forward_and_backward = model.param_bytes + 4 * (6 * 8 + 8 * 3)     # both W stream in again for backward
    assert sum(s.weight_stream_bytes for s in launches) == report.weight_bytes == forward_and_backward
    assert sum(s.gradient_stream_bytes for s in launches) == report.gradient_bytes == model.param_bytes
    assert launches[0].weight_stream_bytes == 4 * 6 * 8 + 4 * 8        # layer 0's W and b, before its GEMM
    assert "streamed" in launches[0].summary()
    # The timeline draws the overlapped schedule: a weight transfer runs while a launch does.
    slices = trainer.timeline.slices
    step = next(s for s in slices if s.track == "steps")
    assert step.seconds == pytest.approx(report.overlapped_s)
    transfers = [s for s in slices if s.track.startswith("MemoryX")]
    runs = [s for s in slices if s.track == "wafer: launches"]
    assert any(t.start_s < r.start_s + r.seconds and r.start_s < t.start_s + t.seconds for t in transfers for r in runs)
    events = json.loads(trainer.to_perfetto(tmp_path / "t.json").read_text())["traceEvents"]
    counters = [e for e in events if e["ph"] == "C"]
    assert counters[-1]["args"] == {"weights in": report.weight_bytes, "gradients out": report.gradient_bytes}

    serial = train.Trainer(model, train.SGD(lr=0.1), batch_size=8, memoryx_spec=slow, overlap=False)
    again = serial.step(x, labels)
    assert again.overlapped_s == pytest.approx(report.overlapped_s) and again.total_s == pytest.approx(report.total_s)
    step = next(s for s in serial.timeline.slices if s.track == "steps")
    assert step.seconds == pytest.approx(again.total_s)


def test_pipelined_step_streams_nothing():
    trainer = train.Trainer(train.Model.mlp([4, 6, 3]), train.SGD(), batch_size=4, mode="pipelined", height=2)
    report = trainer.step(*train.synthetic_classification(4, 4, 3))
    assert report.overlapped_s == pytest.approx(report.total_s) and report.streaming_s == 0
    assert trainer.device.last_launch.weight_stream_bytes == 0
