from appliance.agent.chunker import SentenceChunker, speakable


def stream(chunker: SentenceChunker, text: str, step: int = 3) -> list[str]:
    chunks: list[str] = []
    for start in range(0, len(text), step):
        chunks.extend(chunker.feed(text[start : start + step]))
    return chunks + chunker.flush()


def test_sentences_come_out_one_by_one_while_streaming() -> None:
    text = "Visiting hours are from two to seven. Children are welcome! Anything else?"
    assert stream(SentenceChunker(first_chunk_min_words=99), text) == [
        "Visiting hours are from two to seven.",
        "Children are welcome!",
        "Anything else?",
    ]


def test_first_chunk_may_end_at_a_clause_to_start_speaking_early() -> None:
    text = "Thank you for calling the clinic today, our visiting hours are long. Bye, then."
    chunks = stream(SentenceChunker(first_chunk_min_words=5), text)
    assert chunks[0] == "Thank you for calling the clinic today,"
    assert chunks[1] == "our visiting hours are long."
    assert chunks[2] == "Bye, then."  # later chunks only end at sentences


def test_abbreviations_and_ordinals_do_not_end_a_sentence() -> None:
    text = "Bitte bringen Sie z. B. Ihre Karte mit. Der Termin ist am 1. Mai bei Dr. Weber."
    assert stream(SentenceChunker(first_chunk_min_words=99), text) == [
        "Bitte bringen Sie z. B. Ihre Karte mit.",
        "Der Termin ist am 1. Mai bei Dr. Weber.",
    ]


def test_decimal_times_stay_whole() -> None:
    chunks = stream(SentenceChunker(first_chunk_min_words=99), "Open until 14.30 today. Yes.")
    assert chunks == ["Open until 14.30 today.", "Yes."]


def test_overlong_text_without_punctuation_is_split_at_a_space() -> None:
    chunker = SentenceChunker(first_chunk_min_words=99, max_chars=40)
    chunks = stream(chunker, "word " * 30)
    assert all(len(chunk) <= 40 for chunk in chunks)
    assert " ".join(chunks).split() == ["word"] * 30


def test_markup_is_not_read_out() -> None:
    assert speakable("**Opening** hours:\n# 9 to 5 `ok`") == "Opening hours: 9 to 5 ok"
