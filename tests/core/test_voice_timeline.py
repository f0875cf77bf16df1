"""The speech timeline: order, priorities, cut-in at sentence boundaries, stale utterances dropped."""

from coach.core.voice import Priority, SpeechTimeline, sentences


def lengths(sound):
    return 1.0


def run(timeline, until, step=0.05):
    started, t = [], 0.0
    while t <= until:
        started += [(round(s.t, 2), s.item.sound) for s in timeline.poll(t)]
        t = round(t + step, 3)
    return started


def test_sentences_split_at_full_stops():
    assert sentences("Span nu aan. Trek uw navel in!  Goed?") == ["Span nu aan.", "Trek uw navel in!", "Goed?"]


def test_a_correction_cuts_in_at_the_next_sentence_boundary():
    timeline = SpeechTimeline(lengths)
    timeline.say("Een. Twee. Drie.", Priority.INSTRUCTION)
    timeline.poll(0.0)  # "Een." starts
    timeline.say("Niet persen.", Priority.CORRECTION)
    order = [sound for _, sound in run(timeline, 10)]
    assert order == ["Niet persen.", "Twee.", "Drie."]


def test_nothing_starts_before_the_previous_sentence_ends():
    timeline = SpeechTimeline(lengths)
    timeline.say("Een. Twee.", Priority.INSTRUCTION)
    timeline.say("Drie.", Priority.INSTRUCTION)
    starts = [t for t, _ in run(timeline, 10)]
    assert all(b - a >= 1.0 for a, b in zip(starts, starts[1:]))


def test_a_stale_correction_is_dropped_not_spoken_late():
    timeline = SpeechTimeline(lengths)
    still_wrong = {"value": True}
    timeline.say("Een lange zin.", Priority.INSTRUCTION)
    timeline.poll(0.0)
    timeline.say("Niet persen.", Priority.CORRECTION, still_true=lambda: still_wrong["value"])
    still_wrong["value"] = False  # the patient corrected before the sentence ended
    assert [s for _, s in run(timeline, 5)] == []


def test_an_expired_countdown_word_is_dropped():
    timeline = SpeechTimeline(lengths)
    timeline.say("Een lange zin.", Priority.INSTRUCTION)
    timeline.poll(0.0)
    timeline.say("Drie.", Priority.COUNTDOWN, expires_at=0.5)
    assert [s for _, s in run(timeline, 5)] == []


def test_on_start_reports_the_moment_audio_starts():
    timeline = SpeechTimeline(lengths)
    moments = []
    timeline.say("Een.", Priority.INSTRUCTION)
    timeline.say("Span nu aan.", Priority.INSTRUCTION, on_start=moments.append)
    run(timeline, 5)
    assert moments and moments[0] >= 1.0
