"""Credit conversion (学分转换): learners' deposited outcomes converted into credits of an
institution or a qualification, under the conversion standards the bank publishes.

- ``models``: the catalogue, the standards with their versions and rules, reservations;
- ``catalogue``: certificates and targets (institutions, programmes, courses);
- ``standards``: drafting, editing, publishing (checked whole) and retiring versions; the
  version in force on a day;
- ``rules``: which rule matches an outcome and the credits it gives (pure functions);
- ``caps``: the caps a version declares, counted per learner;
- ``applications``: the preview, the application (outcomes reserved), its end (consumed,
  posted; or released), its reversal;
- ``api``, ``schemas``: the HTTP endpoints.
"""
