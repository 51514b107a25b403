"""The course's exercises: "write the backpropagation equations", graded automatically.

`cnnlab exercise start NAME` writes a student's file (the forward given, the backward to
write, with hints); `cnnlab exercise check` grades it against torch's autograd and a numerical
gradient on cases the student has not seen (`catalog.py` says what each exercise asks,
`grading.py` how it is graded, `sandbox.py` where the student's code runs).
"""
