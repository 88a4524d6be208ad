"""sklearn-template: a scikit-learn classifier of CSV rows as a SageMaker bring-your-own image."""
