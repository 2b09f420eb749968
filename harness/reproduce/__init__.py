"""`primbench reproduce`: train or take baseline, GradStack and MIDAS models, measure each in resumable stages."""
