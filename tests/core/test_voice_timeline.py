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


def test_an_urgent_correction_breaks_off_the_sentence_being_spoken():
    timeline = SpeechTimeline(lengths)
    timeline.say("Schuif uw hiel weg. Houd dit vast.", Priority.INSTRUCTION)
    timeline.poll(0.0)  # the first sentence starts, 1 s long
    timeline.say("Houd uw bekken stil.", Priority.CORRECTION, cuts_in=True)
    started = run_from(timeline, 0.3, 10)
    cuts = timeline.take_cuts()
    assert [round(c.t, 2) for c in cuts] == [0.3] and cuts[0].item.sound == "Schuif uw hiel weg."
    assert started[0] == (0.5, "Houd uw bekken stil."), "after a 0.2 s break, not after the sentence"
    assert [s for _, s in started] == ["Houd uw bekken stil.", "Houd dit vast."]


def test_a_broken_off_instruction_is_said_again_while_it_still_holds():
    for still in (True, False):
        timeline = SpeechTimeline(lengths)
        timeline.say("Schuif uw hiel weg.", Priority.INSTRUCTION)
        timeline.poll(0.0)
        timeline.say("Houd uw bekken stil.", Priority.CORRECTION, cuts_in=True)
        timeline.poll(0.3)
        for cut in timeline.take_cuts():
            timeline.say_again(cut.item, lambda still=still: still)
        said = [s for _, s in run_from(timeline, 0.35, 10)]
        assert said == ["Houd uw bekken stil."] + (["Schuif uw hiel weg."] if still else [])


def test_only_an_urgent_correction_breaks_off_and_never_a_tone_or_a_safety_message():
    for first, priority, second, cuts_in in [
            ("Een lange zin.", Priority.INSTRUCTION, "Niet persen.", False),   # not urgent: waits
            ("Ik meet geen druk meer.", Priority.SAFETY, "Niet persen.", True),
            ("Nog wat meer.", Priority.CORRECTION, "Houd uw bekken stil.", True)]:
        timeline = SpeechTimeline(lengths)
        timeline.say(first, priority)
        timeline.poll(0.0)
        timeline.say(second, Priority.CORRECTION, cuts_in=cuts_in)
        started = run_from(timeline, 0.3, 10)
        assert not timeline.take_cuts()
        assert started[0][0] >= 1.0, (first, started)
    timeline = SpeechTimeline(lengths)
    timeline.tone("hold_start")
    timeline.poll(0.0)
    timeline.say("Niet persen.", Priority.CORRECTION, cuts_in=True)
    run_from(timeline, 0.3, 10)
    assert not timeline.take_cuts()


def test_a_correction_no_longer_true_breaks_nothing_off():
    timeline = SpeechTimeline(lengths)
    timeline.say("Een lange zin.", Priority.INSTRUCTION)
    timeline.poll(0.0)
    timeline.say("Niet persen.", Priority.CORRECTION, cuts_in=True, still_true=lambda: False)
    assert [s for _, s in run_from(timeline, 0.3, 5)] == [] and not timeline.take_cuts()


def run_from(timeline, start, until, step=0.05):
    started, t = [], start
    while t <= until:
        started += [(round(s.t, 2), s.item.sound) for s in timeline.poll(t)]
        t = round(t + step, 3)
    return started


def test_in_the_pause_after_a_sentence_nothing_is_broken_off_and_the_correction_comes_sooner():
    timeline = SpeechTimeline(lengths)
    timeline.say("Trek uw navel naar binnen.", Priority.INSTRUCTION)
    timeline.poll(0.0)   # 1 s of audio, then a 0.6 s pause
    timeline.say("Niet persen.", Priority.CORRECTION, cuts_in=True)
    started = run_from(timeline, 1.1, 5)
    assert not timeline.take_cuts(), "the sentence was whole: not cut, and not said again"
    assert started == [(1.3, "Niet persen.")]
