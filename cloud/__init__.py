"""The live cloud: `inventory` reads it into one typed snapshot, `plan` compares the stacks'
desired state with it, `apply` runs the Pulumi engine against it. The drift audit grows here."""
