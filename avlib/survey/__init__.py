"""The survey: Wei, Hu, Tian, Li, "Learning in Audio-visual Context: A Review, Analysis, and New Perspective"
(arXiv 2208.09579).

- `papers`: the parser of the authors' companion paper list (GeWu-Lab/awesome-audiovisual-learning,
  README.md) into bibliographic facts (group, task, sub-task, topic, title, venue, year), and the committed
  copy of those facts, `avlib/reference/survey_papers.csv`.
- `taxonomy`: the survey's taxonomy (three groups -> tasks -> sub-tasks, Sec. 3-5), kept in
  `avlib/reference/survey_taxonomy.yaml`, validated against a schema, and the number of listed papers per node.
"""
