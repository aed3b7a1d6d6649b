"""The in-domain experiment's text: movie reviews without a sentence of the task's dev or test
split, and WikiText-2's paragraphs without headings (hand-built archives' bytes, no download)."""
import gzip

from jobs.demo_data import normalized, review_documents, wikitext_paragraphs


def test_a_review_sentence_that_is_in_the_tasks_dev_or_test_split_is_dropped_and_counted():
    held_out = {normalized(t) for t in ["It just goes to show, an intelligent person isn't a storyteller.",
                                        "A wonderful film."]}
    raw = ('\ufeff"1","the plot is thin . \nit just goes to show , an intelligent person isn\'t a storyteller . \n'
           'the cast is fine . "\n"0","a wonderful film ! \n"\n"1","""quoted"" praise , here . "\n').encode()
    documents, kept, dropped = review_documents(raw, held_out)
    assert documents["text"].to_list() == ["the plot is thin . the cast is fine .", '"quoted" praise , here .']
    assert (kept, dropped) == (3, 2)  # the second review had only a held-out sentence: no row for it


def test_wikitext_paragraphs_leave_out_headings_and_blank_lines():
    raw = gzip.compress(" \n = Valkyria = \n \n The game began . \n = = Plot = = \n It ends . \n".encode())
    assert wikitext_paragraphs(raw) == ["The game began .", "It ends ."]
