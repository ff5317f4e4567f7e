"""The course as students and instructors meet it: results cards, `fallkd course` and `fallkd collect`.

cards: each notebook's results card (a JSON file, and the same card in the notebook's output);
runner: execute every notebook into runs/<timestamp>/ with an HTML copy and a summary;
collect: gather many students' runs into one table with flags.
"""
